"""Side by side with d2l: the book's own reference implementation against the course's version.

    python -m autograder.bench_d2l [--weeks 03 04 07] [--epochs 10] [--time-limit 300]
                                   [--board on off] [--json out.json]

For every week whose syllabus row names a d2l anchor (``ANCHORS``), four runs train the same
model on Fashion-MNIST on this machine, each in a fresh Python process, and record
*time to accuracy*: the exact test accuracy after every epoch against the seconds spent
training so far (the evaluation that produces the curve is not counted; d2l's own per-epoch
validation pass is, as it is part of d2l's ``Trainer``):

``d2l``           d2l.torch unchanged: ``d2l.FashionMNIST`` (torchvision dataset, PIL transforms,
                  ``DataLoader`` with 4 worker processes), the book's model class, ``d2l.Trainer``
                  with the book's hyper-parameters, and d2l's ``ProgressBoard`` drawing as it
                  does in Jupyter (an IPython shell renders every ``display`` call to SVG).
``d2l-noboard``   the same with ``model.board.display = False`` (a ProgressBoard option:
                  d2l's code is not changed), to separate plotting from training.
``d2l-recipe``    the book's model and optimiser (plain SGD, same lr and batch size, inputs in
                  [0, 1]) on the course's in-memory tensors (``dlcourse.train.batches``): only
                  the data pipeline differs from ``d2l-noboard``.
``course``        the course's version as the lectures write it: in-memory tensors,
                  standardised pixels, SGD with momentum / Adam and a schedule.

The d2l runs need no internet: the Fashion-MNIST files of ``data/fashion-mnist/full`` are
unpacked into a temporary ``data/FashionMNIST/raw`` that torchvision finds, and the run's
working directory sits next to it because d2l's ``DataModule`` reads ``root='../data'``.
``MLP`` and ``BNLeNet`` are not in ``d2l.torch`` (the book defines them in its notebooks);
they are copied below verbatim from the book, built on d2l's ``Classifier`` and trained by
d2l's ``Trainer``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# One entry per week with a d2l anchor in the syllabus: the book's recipe and the anchor.
ANCHORS = {
    "03": {"name": "softmax regression", "anchor": 0.83, "d2l_batch": 256, "d2l_lr": 0.1,
           "course_epochs": 5},
    "04": {"name": "MLP (1 hidden layer, 256 units)", "anchor": 0.845, "d2l_batch": 256,
           "d2l_lr": 0.1, "course_epochs": 6},
    "07": {"name": "LeNet with batch norm", "anchor": 0.87, "d2l_batch": 128, "d2l_lr": 0.1,
           "course_epochs": 4, "variants": ("d2l", "course")},  # a CNN epoch is slow on a CPU
}
VARIANTS = ("d2l", "d2l-noboard", "d2l-recipe", "course")


# --------------------------------------------------------------------------- pure helpers


def time_to_accuracy(curve: list[dict], target: float) -> float | None:
    """Seconds at the first point of ``curve`` ([{"seconds", "acc"}, ...]) with acc >= target."""
    for point in curve:
        if point["acc"] >= target:
            return point["seconds"]
    return None


def summarise(week: str, runs: dict[str, dict]) -> dict:
    """Compare each run with d2l's final accuracy: seconds to reach it and the speed-up."""
    ref = runs.get("d2l") or runs.get("d2l-noboard")
    out = {"week": week, "model": ANCHORS[week]["name"], "anchor": ANCHORS[week]["anchor"]}
    target = ref_seconds = None
    if ref and ref.get("curve"):
        target = ref["curve"][-1]["acc"]
        ref_seconds = ref["curve"][-1]["seconds"]
        out.update({"d2l_final_acc": target, "d2l_seconds": ref_seconds,
                    "d2l_epochs": len(ref["curve"])})
    for name, run in runs.items():
        t = time_to_accuracy(run.get("curve", []), target) if target is not None else None
        out[name] = {"seconds_to_d2l_acc": t,
                     "speedup": round(ref_seconds / t, 1) if t else None,
                     "final_acc": run["curve"][-1]["acc"] if run.get("curve") else None,
                     "final_seconds": run["curve"][-1]["seconds"] if run.get("curve") else None,
                     "setup_seconds": run.get("setup_seconds"), "peak_mb": run.get("peak_mb")}
    return out


def format_curve(curve: list[dict]) -> str:
    """``0.812@3.1s 0.835@6.0s ...``: accuracy after each epoch at its elapsed training time."""
    return " ".join(f"{p['acc']:.3f}@{p['seconds']:.1f}s" for p in curve)


def markdown(summaries: list[dict], runs: dict[str, dict[str, dict]]) -> str:
    """The side-by-side table (one row per week and variant) and the curves."""
    lines = ["| week | model | run | setup s | epochs | final test acc | train s | "
             "s to d2l's final acc | speed-up vs d2l | peak MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        for name in VARIANTS:
            r = s.get(name)
            if r is None:
                continue
            run = runs[s["week"]][name]
            t = r["seconds_to_d2l_acc"]
            lines.append(
                f"| {s['week']} | {s['model']} | {name} | {_num(r['setup_seconds'])} | "
                f"{len(run.get('curve', []))} | {_num(r['final_acc'], 4)} | {_num(r['final_seconds'])} | "
                f"{_num(t) if t is not None else ('not reached' if 'd2l_final_acc' in s else '-')} | "
                f"{_speedup(r['speedup'])} | {_num(r['peak_mb'], 0)} |")
    lines.append("")
    for s in summaries:
        if "d2l_final_acc" in s:
            lines.append(f"- week {s['week']}: d2l reaches {s['d2l_final_acc']:.4f} after "
                         f"{s['d2l_epochs']} epochs in {s['d2l_seconds']:.1f} s (syllabus anchor "
                         f"{s['anchor']}).")
        else:
            lines.append(f"- week {s['week']} ({s['model']}): no d2l run to compare with.")
        for name in VARIANTS:
            run = runs[s["week"]].get(name)
            if run and run.get("curve"):
                lines.append(f"  - {name}: {format_curve(run['curve'])}")
            elif run and run.get("error"):
                lines.append(f"  - {name}: FAILED {run['error'][-300:]!r}")
    return "\n".join(lines) + "\n"


def _speedup(x) -> str:
    return f"{x}x" if x else "-"


def _num(x, digits: int = 1) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}f}"


# --------------------------------------------------------------------------- data for d2l


def prepare_torchvision_root(dest: Path, source: Path | None = None) -> Path:
    """Unpack Fashion-MNIST into ``dest/FashionMNIST/raw`` (what torchvision looks for).

    torchvision accepts the extracted IDX files without checksums, so it never downloads.
    """
    if source is None:
        from dlcourse import data

        source = data.fetch("fashion-mnist") / "fashion-mnist" / "full"
    raw = dest / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for gz in sorted(Path(source).glob("*-ubyte.gz")):
        with gzip.open(gz, "rb") as f, open(raw / gz.name[: -len(".gz")], "wb") as out:
            shutil.copyfileobj(f, out)
    return raw


# --------------------------------------------------------------------------- one run


class _Clock:
    """Wall-clock seconds that can be paused while the curve's evaluation runs."""

    def __init__(self):
        self.spent, self.since = 0.0, None

    def start(self):
        self.since = time.perf_counter()

    def pause(self):
        self.spent += time.perf_counter() - self.since
        self.since = None

    @property
    def seconds(self):
        return self.spent + (time.perf_counter() - self.since if self.since is not None else 0.0)


class _OutOfTime(Exception):
    pass


def _book_models(d2l, nn):
    """The models the book defines in its notebooks (not shipped in d2l.torch), verbatim."""

    class MLP(d2l.Classifier):  # chapter_multilayer-perceptrons/mlp-implementation
        def __init__(self, num_outputs, num_hiddens, lr):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_hiddens),
                                     nn.ReLU(), nn.LazyLinear(num_outputs))

    class BNLeNet(d2l.Classifier):  # chapter_convolutional-modern/batch-norm
        def __init__(self, lr=0.1, num_classes=10):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(
                nn.LazyConv2d(6, kernel_size=5), nn.LazyBatchNorm2d(),
                nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
                nn.LazyConv2d(16, kernel_size=5), nn.LazyBatchNorm2d(),
                nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
                nn.Flatten(), nn.LazyLinear(120), nn.LazyBatchNorm1d(),
                nn.Sigmoid(), nn.LazyLinear(84), nn.LazyBatchNorm1d(),
                nn.Sigmoid(), nn.LazyLinear(num_classes))

    return MLP, BNLeNet


def _d2l_model(week: str, d2l, nn):
    spec = ANCHORS[week]
    MLP, BNLeNet = _book_models(d2l, nn)
    if week == "03":
        return d2l.SoftmaxRegression(num_outputs=10, lr=spec["d2l_lr"])
    if week == "04":
        return MLP(num_outputs=10, num_hiddens=256, lr=spec["d2l_lr"])
    return BNLeNet(lr=spec["d2l_lr"])


def run_d2l(week: str, epochs: int, time_limit: float, board: bool) -> dict:
    """d2l's FashionMNIST + model + Trainer, unchanged; ``board`` as d2l draws it in Jupyter."""
    import torch
    from torch import nn

    if board:  # make IPython.display render figures as in a notebook (SVG), not print a repr
        from IPython.core.interactiveshell import InteractiveShell

        InteractiveShell.instance()
    from d2l import torch as d2l

    from dlcourse import data, train

    t0 = time.perf_counter()
    torch.manual_seed(0)
    dm = d2l.FashionMNIST(batch_size=ANCHORS[week]["d2l_batch"])  # root '../data', 4 workers
    model = _d2l_model(week, d2l, nn)
    if week == "07":  # the book's BNLeNet cell initialises the lazy layers on one batch
        model.apply_init([next(iter(dm.get_dataloader(True)))[0]], d2l.init_cnn)
    model.board.display = board
    trainer = d2l.Trainer(max_epochs=epochs)
    _, _, X_test, y_test = data.load_fashion_mnist()  # same images as d2l's val set, in [0, 1]
    setup = time.perf_counter() - t0

    clock, curve = _Clock(), []
    fit_epoch = trainer.fit_epoch  # d2l's own; wrapped at the instance to read the clock

    def timed_epoch():
        fit_epoch()
        clock.pause()
        acc = train.accuracy(model, X_test, y_test, batch_size=1000)
        board_acc = model.board.data.get("val_acc", [])
        curve.append({"epoch": trainer.epoch + 1, "seconds": round(clock.seconds, 2),
                      "acc": round(acc, 4),
                      "d2l_val_acc": round(float(board_acc[-1].y), 4) if board_acc else None})
        print(f"  d2l epoch {trainer.epoch + 1}: test acc {acc:.4f} at {clock.seconds:.1f} s",
              flush=True)
        if clock.seconds > time_limit:
            raise _OutOfTime
        clock.start()

    trainer.fit_epoch = timed_epoch
    clock.start()
    try:
        trainer.fit(model, dm)
    except _OutOfTime:
        pass
    return {"setup_seconds": round(setup, 2), "curve": curve,
            "stopped_by_time_limit": len(curve) < epochs,
            "recipe": f"d2l.Trainer, SGD lr {ANCHORS[week]['d2l_lr']}, batch "
                      f"{ANCHORS[week]['d2l_batch']}, DataLoader num_workers={dm.num_workers}, "
                      f"board {'on' if board else 'off'}"}


def _course_model(week: str, nn):
    if week == "03":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    if week == "04":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    return nn.Sequential(  # the book's BN-LeNet layers, eager (no lazy init)
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(), nn.Linear(84, 10))


def run_inmemory(week: str, epochs: int, time_limit: float, recipe: str) -> dict:
    """``recipe="d2l"``: the book's model and SGD on in-memory tensors; ``"course"``: the lecture's."""
    import math

    import torch
    import torch.nn.functional as F
    from torch import nn

    from dlcourse import data, train

    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    X_train, y_train, X_test, y_test = data.load_fashion_mnist()
    net = _course_model(week, nn)
    spec = ANCHORS[week]
    schedule = None
    if recipe == "d2l":  # inputs in [0, 1], plain SGD, the book's lr and batch size
        batch_size = spec["d2l_batch"]
        optimizer = torch.optim.SGD(net.parameters(), lr=spec["d2l_lr"])
        desc = f"book model, SGD lr {spec['d2l_lr']}, batch {batch_size}, in-memory tensors"
    else:
        mean, std = X_train.mean(), X_train.std()  # standardise with training statistics
        X_train.sub_(mean).div_(std)
        X_test.sub_(mean).div_(std)
        epochs = min(epochs, spec["course_epochs"])
        if week == "03":  # lecture 03: SGD momentum 0.9, lr 0.01 decayed by 0.7 per epoch
            batch_size = 256
            optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
            schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.7)
            desc = "standardised, SGD momentum 0.9 lr 0.01 x0.7/epoch, batch 256"
        else:  # lecture 04 (and the week-7 CNN): Adam with a one-cycle schedule per step
            batch_size = 512 if week == "04" else 256
            max_lr = 8e-3 if week == "04" else 3e-3
            optimizer = torch.optim.Adam(net.parameters(), lr=max_lr)
            steps = epochs * math.ceil(len(X_train) / batch_size)
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr, total_steps=steps,
                                                           pct_start=0.3, div_factor=25,
                                                           anneal_strategy="cos")
            desc = f"standardised, Adam one-cycle max lr {max_lr}, batch {batch_size}"
    setup = time.perf_counter() - t0

    clock, curve = _Clock(), []
    clock.start()
    for epoch in range(1, epochs + 1):
        net.train()
        for Xb, yb in train.batches(X_train, y_train, batch_size, generator=gen):
            loss = F.cross_entropy(net(Xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if isinstance(schedule, torch.optim.lr_scheduler.OneCycleLR):
                schedule.step()
        if isinstance(schedule, torch.optim.lr_scheduler.ExponentialLR):
            schedule.step()
        clock.pause()
        acc = train.accuracy(net, X_test, y_test, batch_size=1000)
        curve.append({"epoch": epoch, "seconds": round(clock.seconds, 2), "acc": round(acc, 4)})
        print(f"  {recipe} epoch {epoch}: test acc {acc:.4f} at {clock.seconds:.1f} s", flush=True)
        if clock.seconds > time_limit:
            break
        clock.start()
    return {"setup_seconds": round(setup, 2), "curve": curve, "recipe": desc,
            "stopped_by_time_limit": len(curve) < epochs}


def run_one(week: str, variant: str, epochs: int, time_limit: float) -> dict:
    if variant == "d2l":
        return run_d2l(week, epochs, time_limit, board=True)
    if variant == "d2l-noboard":
        return run_d2l(week, epochs, time_limit, board=False)
    return run_inmemory(week, epochs, time_limit, "d2l" if variant == "d2l-recipe" else "course")


# --------------------------------------------------------------------------- driver


def bench(weeks: list[str], variants: list[str] | None, epochs: int, time_limit: float,
          threads: int | None = None, log=print) -> dict:
    """Run every (week, variant) in its own process; return {"summaries", "runs", "markdown"}."""
    from .bench import measure  # process-tree peak memory, as for the notebooks

    runs: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-d2l-") as tmp:
        prepare_torchvision_root(Path(tmp) / "data")
        work = Path(tmp) / "work"  # d2l reads ../data from here
        work.mkdir()
        env = {**os.environ, "MPLBACKEND": "Agg",
               "DLCOURSE_DATA": str(Path(__file__).resolve().parent.parent / "data")}
        if threads:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        for week in weeks:
            runs[week] = {}
            for variant in variants or ANCHORS[week].get("variants", VARIANTS):
                log(f"d2l side by side: week {week}, {variant}")
                out = work / f"{week}-{variant}.json"
                cmd = [sys.executable, "-m", "autograder.bench_d2l", "--one", week, variant,
                       "--epochs", str(epochs), "--time-limit", str(time_limit), "--json", str(out)]
                res = measure(cmd, work, env=env, pythonpath=Path(__file__).resolve().parent.parent)
                run = json.loads(out.read_text()) if out.exists() else {}
                run.update({"peak_mb": res["peak_mb"], "process_seconds": res["seconds"],
                            "ok": res["ok"]})
                if not res["ok"]:
                    run["error"] = res["stderr"]
                    log(res["stderr"][-1500:])
                runs[week][variant] = run
    summaries = [summarise(week, runs[week]) for week in weeks]
    return {"summaries": summaries, "runs": runs, "markdown": markdown(summaries, runs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.bench_d2l",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", nargs="*", default=["03", "04"],
                        help=f"weeks with a d2l anchor: {' '.join(ANCHORS)} (default: 03 04)")
    parser.add_argument("--variants", nargs="*", choices=VARIANTS,
                        help="default: all four (weeks 03, 04); d2l and course (week 07)")
    parser.add_argument("--epochs", type=int, default=10, help="d2l's epochs (the book: 10)")
    parser.add_argument("--time-limit", type=float, default=240.0,
                        help="stop a run after the epoch that passes this many training seconds")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for every run")
    parser.add_argument("--json", help="write the result here")
    parser.add_argument("--one", nargs=2, metavar=("WEEK", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        week, variant = args.one
        result = run_one(week, variant, args.epochs, args.time_limit)
        Path(args.json).write_text(json.dumps(result, indent=1))
        return 0
    weeks = [w.zfill(2)[:2] for w in args.weeks]
    unknown = [w for w in weeks if w not in ANCHORS]
    if unknown:
        parser.error(f"no d2l anchor for week(s) {unknown}; known: {list(ANCHORS)}")
    result = bench(weeks, args.variants, args.epochs, args.time_limit, threads=args.threads)
    print("\n" + result["markdown"])
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
