"""dlcourse.train and dlcourse.device: batching, evaluation, a training loop, seeding."""

from __future__ import annotations

import os

import torch
from torch import nn

from dlcourse import device, train


def test_batches_cover_every_row_once_in_a_seeded_order():
    X, y = torch.arange(10).float().unsqueeze(1), torch.arange(10)
    seen = torch.cat([yb for _, yb in train.batches(X, y, 4, generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(10))
    again = torch.cat([yb for _, yb in train.batches(X, y, 4, generator=torch.Generator().manual_seed(0))])
    assert torch.equal(seen, again)
    assert [len(b) for b, _ in train.batches(X, y, 4, shuffle=False)] == [4, 4, 2]


def test_accuracy_and_predict_evaluate_in_batches():
    X = torch.eye(5)
    net = nn.Identity()
    assert train.accuracy(net, X, torch.arange(5), batch_size=2) == 1.0
    assert train.accuracy(net, X, torch.tensor([0, 1, 2, 0, 0]), batch_size=3) == 0.6
    assert torch.equal(train.predict(net, X, batch_size=2), torch.arange(5))


def test_fit_learns_a_separable_problem():
    gen = device.seed_everything(0)
    X = torch.randn(400, 2, generator=gen)
    y = (X[:, 0] + X[:, 1] > 0).long()
    net = nn.Linear(2, 2)
    hist = train.fit(net, X, y, loss_fn=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(net.parameters(), lr=0.5),
                     num_epochs=5, batch_size=32, X_val=X, y_val=y, generator=gen)
    assert hist["val acc"][-1] > 0.95 and hist["train loss"][-1] < hist["train loss"][0]


def test_seed_everything_makes_runs_repeatable():
    a = device.seed_everything(3)
    first = (torch.randn(3, generator=a), torch.randn(3))
    b = device.seed_everything(3)
    assert torch.equal(first[0], torch.randn(3, generator=b)) and torch.equal(first[1], torch.randn(3))


def test_get_device_honours_an_override(monkeypatch):
    monkeypatch.setenv("DLCOURSE_DEVICE", "cpu")
    assert device.get_device() == torch.device("cpu")
    assert device.describe(torch.device("cpu")).startswith("cpu")


def test_thread_rule_prefers_explicit_settings_then_half_the_cores(monkeypatch):
    monkeypatch.delenv("DLCOURSE_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert [device.choose_threads(c) for c in (1, 2, 3, 4, 8, 64)] == [1, 1, 1, 2, 4, 4]
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert device.choose_threads(2) == 3
    monkeypatch.setenv("DLCOURSE_THREADS", "2")
    assert device.choose_threads(64) == 2
    assert 1 <= device.usable_cores() <= (os.cpu_count() or 1)


def test_setup_sets_threads_device_and_seeds(monkeypatch, capsys):
    before = torch.get_num_threads()
    monkeypatch.setenv("DLCOURSE_THREADS", "1")
    monkeypatch.setenv("DLCOURSE_DEVICE", "cpu")
    try:
        gen, dev = device.setup(5)
        assert torch.get_num_threads() == 1 and dev == torch.device("cpu")
        assert "1 thread" in capsys.readouterr().out
        first = torch.randn(2, generator=gen)
        gen_again, _ = device.setup(5, verbose=False)
        assert torch.equal(first, torch.randn(2, generator=gen_again))
    finally:
        torch.set_num_threads(before)
