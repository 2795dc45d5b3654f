"""Plotting helpers: consistent figures, image grids and a live training curve."""

from __future__ import annotations

import time
from typing import Sequence

import matplotlib.pyplot as plt


def figure(ncols: int = 1, nrows: int = 1, width: float = 4.5, height: float = 3.2, **kwargs):
    """A figure with ``nrows x ncols`` axes of a readable default size; returns (fig, axes)."""
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                        constrained_layout=True, **kwargs)


def show_images(images, titles: Sequence[str] | None = None, ncols: int = 8,
                scale: float = 1.4, cmap: str = "gray"):
    """Show a batch of images (n, 1|3, h, w) or (n, h, w) in a grid, optional titles."""
    images = images.detach().cpu()
    if images.ndim == 4:
        images = images.permute(0, 2, 3, 1).squeeze(-1)
    n = len(images)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows * 1.15),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i].numpy(), cmap=cmap)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    return fig


class LiveCurves:
    """Training curves that redraw in place in a notebook (and print a line per update elsewhere).

    >>> curves = LiveCurves(["train loss", "val acc"], xlabel="epoch")
    >>> curves.add(1, **{"train loss": 0.9, "val acc": 0.7})   # doctest: +SKIP
    """

    def __init__(self, names: Sequence[str], xlabel: str = "epoch", title: str = "",
                 every: float = 0.5):
        self.names, self.xlabel, self.title, self.every = list(names), xlabel, title, every
        self.x: list[float] = []
        self.y: dict[str, list[float]] = {n: [] for n in self.names}
        self._handle = None
        self._last = 0.0
        self._start = time.perf_counter()

    def add(self, x: float, **values: float) -> None:
        """Record the values at step ``x`` and redraw (at most every ``every`` seconds)."""
        self.x.append(x)
        for name in self.names:
            self.y[name].append(float(values.get(name, float("nan"))))
        if time.perf_counter() - self._last >= self.every:
            self.draw()

    def draw(self) -> None:
        """Redraw now (call once after the loop so the final curve is shown)."""
        self._last = time.perf_counter()
        fig, ax = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
        for name in self.names:
            ax.plot(self.x, self.y[name], marker="o" if len(self.x) < 30 else None,
                    markersize=3, label=name)
        ax.set_xlabel(self.xlabel)
        ax.grid(alpha=0.3)
        ax.legend()
        elapsed = time.perf_counter() - self._start
        ax.set_title(f"{self.title}  ({elapsed:.1f} s)" if self.title else f"{elapsed:.1f} s")
        try:
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is None:
                raise ImportError
            if self._handle is None:
                self._handle = display(fig, display_id=True)
            else:
                self._handle.update(fig)
        except ImportError:
            last = ", ".join(f"{n} {self.y[n][-1]:.4f}" for n in self.names)
            print(f"{self.xlabel} {self.x[-1]}: {last}")
        plt.close(fig)
