"""Stand-in for otter-grader inside the grading sandbox.

The hardened grader runs the tests itself, outside the submission's reach, so the calls a
notebook makes to Otter (``grader.check``, ``grader.export``, ...) do nothing here.  Patching
this module cannot change a grade.
"""


class _Skipped:
    def __repr__(self):
        return "(checks run only in your own notebook; Gradescope runs the tests separately)"


class Notebook:
    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return lambda *args, **kwargs: _Skipped()
