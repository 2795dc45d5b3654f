"""The course's build, verification and grading tooling (see autograder/README.md)."""
