"""Red-team attacks on the grading API (issue 12); the harness is tests/test_redteam.py."""
