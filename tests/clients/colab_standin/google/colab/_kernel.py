"""Colab's kernel: ipykernel's, with ``google.colab._shell.Shell`` as the shell."""

from ipykernel.ipkernel import IPythonKernel
from traitlets import Type

from . import _shell


class Kernel(IPythonKernel):
    shell_class = Type(_shell.Shell)
