"""Hardened Gradescope grading: ``judge`` (trusted, computes the score) and ``worker`` (sandboxed).

See autograder/README.md, "Hardened grading".
"""
