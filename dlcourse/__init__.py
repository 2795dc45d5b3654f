"""Helpers shared by the course notebooks: data, device, plotting and training.

Each module is small, imported explicitly (``from dlcourse import data``) and has no side
effects on import.  Nothing here hides the idea a notebook teaches: the helpers load data,
pick a device, draw plots and run the boring parts of a training loop.
"""

__version__ = "0.1.0"
__all__ = ["data", "device", "plot", "train"]
