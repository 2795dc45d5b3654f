"""The plain parts of a training loop, on in-memory tensors.

Fashion-MNIST fits in memory many times over, so the course keeps data sets as tensors and
slices minibatches with a shuffled index instead of a ``DataLoader`` with worker processes:
on a 2-core CPU that removes most of the time an epoch spends outside the model.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

import torch
from torch import nn


def batches(X: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = True,
            generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield minibatches ``(X[idx], y[idx])`` of at most ``batch_size`` rows.

    ``shuffle`` draws a new permutation each call, from ``generator`` if given.
    """
    n = len(X)
    idx = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        j = idx[start : start + batch_size]
        yield X[j], y[j]


@torch.no_grad()
def accuracy(net: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, y: torch.Tensor,
             batch_size: int = 2048, device: torch.device | None = None) -> float:
    """Fraction of rows of ``X`` whose arg-max prediction equals ``y``, evaluated in batches."""
    was_training = getattr(net, "training", False)
    if isinstance(net, nn.Module):
        net.eval()
    correct = 0
    for start in range(0, len(X), batch_size):
        Xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        if device is not None:
            Xb, yb = Xb.to(device), yb.to(device)
        correct += (net(Xb).argmax(dim=1) == yb).sum().item()
    if isinstance(net, nn.Module) and was_training:
        net.train()
    return correct / len(X)


@torch.no_grad()
def predict(net: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor,
            batch_size: int = 2048, device: torch.device | None = None) -> torch.Tensor:
    """Arg-max class predictions for every row of ``X`` (on the CPU), evaluated in batches."""
    if isinstance(net, nn.Module):
        net.eval()
    out = []
    for start in range(0, len(X), batch_size):
        Xb = X[start : start + batch_size]
        if device is not None:
            Xb = Xb.to(device)
        out.append(net(Xb).argmax(dim=1).cpu())
    return torch.cat(out)


def fit(net: nn.Module, X: torch.Tensor, y: torch.Tensor, *, loss_fn: nn.Module,
        optimizer: torch.optim.Optimizer, num_epochs: int, batch_size: int,
        X_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
        generator: torch.Generator | None = None, device: torch.device | None = None,
        curves=None, scheduler=None) -> dict[str, list[float]]:
    """Train ``net`` for ``num_epochs`` epochs of minibatch updates; return the history.

    The history holds ``train loss`` (mean over the epoch's batches), ``train acc`` and, when
    validation data are given, ``val acc``, one entry per epoch, plus ``seconds``.
    ``curves`` (a ``dlcourse.plot.LiveCurves``) is updated after every epoch.
    """
    device = device or torch.device("cpu")
    history: dict[str, list[float]] = {"train loss": [], "train acc": [], "val acc": [], "seconds": []}
    start = time.perf_counter()
    for epoch in range(1, num_epochs + 1):
        net.train()
        total, correct, count = 0.0, 0, 0
        for Xb, yb in batches(X, y, batch_size, generator=generator):
            Xb, yb = Xb.to(device), yb.to(device)
            y_hat = net(Xb)
            loss = loss_fn(y_hat, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            correct += (y_hat.argmax(dim=1) == yb).sum().item()
            count += len(yb)
        if scheduler is not None:
            scheduler.step()
        history["train loss"].append(total / count)
        history["train acc"].append(correct / count)
        if X_val is not None:
            history["val acc"].append(accuracy(net, X_val, y_val, device=device))
        history["seconds"].append(time.perf_counter() - start)
        if curves is not None:
            curves.add(epoch, **{k: v[-1] for k, v in history.items() if v and k != "seconds"})
    if curves is not None:
        curves.draw()
    return history
