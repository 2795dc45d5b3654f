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


SIGNED_CMAP = "RdBu_r"
"""The course's colours for signed values (weights, filters, templates): blue negative, white 0,
red positive, always with limits symmetric about 0 so that white means exactly zero."""


def imshow_signed(ax, values, bound: float | None = None, colorbar: bool = False, **kwargs):
    """Show a 2-D array of signed values (e.g. a weight template) in the course's colours.

    The colormap is :data:`SIGNED_CMAP` with limits ``(-bound, bound)``; ``bound`` defaults to
    the largest absolute value, so 0 is always white. Returns the image.
    """
    values = values.detach().cpu() if hasattr(values, "detach") else values
    if bound is None:
        bound = float(abs(values).max()) or 1.0
    im = ax.imshow(values, cmap=SIGNED_CMAP, vmin=-bound, vmax=bound, **kwargs)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8)
    return im


def _kind(name: str) -> str:
    """The quantity a curve measures, from its name: curves of one kind share a panel."""
    for kind in ("loss", "acc", "perplexity"):
        if kind in name:
            return {"acc": "accuracy"}.get(kind, kind)
    return name


class LiveCurves:
    """Training curves that redraw in place in a notebook (and print a line per update elsewhere).

    Curves of different kinds (loss, accuracy, perplexity, read from their names) go on
    separate panels, each with its own labelled y axis: a loss and an accuracy never share one.

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
        kinds = list(dict.fromkeys(_kind(n) for n in self.names))
        fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.2),
                                 constrained_layout=True, squeeze=False)
        for ax, kind in zip(axes[0], kinds):
            for i, name in enumerate(self.names):
                if _kind(name) == kind:
                    ax.plot(self.x, self.y[name], marker="o" if len(self.x) < 30 else None,
                            markersize=3, label=name, color=f"C{i}")
            ax.set_xlabel(self.xlabel)
            ax.set_ylabel(kind)
            ax.grid(alpha=0.3)
            ax.legend()
        elapsed = time.perf_counter() - self._start
        fig.suptitle(f"{self.title}  ({elapsed:.1f} s)" if self.title else f"{elapsed:.1f} s")
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
