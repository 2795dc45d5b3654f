"""Stand-in for Colab's preinstalled ``google.colab`` package (tests/test_clients.py only).

Real Colab starts every kernel through ``google.colab._kernel`` with the shell class
``google.colab._shell.Shell``, so ``"google.colab" in sys.modules`` holds from the first cell
and ``str(get_ipython())`` names ``google.colab._shell.Shell`` (which is how otter-grader
recognises Colab).  This package mirrors those two facts and the ``files`` helper students use.
"""

from . import files  # noqa: F401  (Colab's ``from google.colab import files`` works)

__all__ = ["files"]
