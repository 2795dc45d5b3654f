"""Course data: one registry of every file, found locally, copied from a folder, or downloaded.

Every data file the course uses is listed in ``DATASETS`` with its checksum.  ``fetch`` makes
sure a data set is present under the data root and returns the root:

1. a file already in the data root with the right checksum is used as it is;
2. otherwise it is copied from a folder (``source_dir``, default ``$COURSE_DATA_DIR``) laid out
   like the course's shared data folder or like another data root;
3. otherwise it is downloaded from its public address (what students on Colab get);
4. a few files are *derived* (the 6k/2k Fashion-MNIST subset is the first 6,000 training and
   2,000 test images of the full set) and are rebuilt from their parent when missing.

Every file goes to a temporary name, is checksummed, then moved into place; a failed attempt
leaves no partial file and no folder it created, and names the file and both ways to get it.

ONE data root serves every week (``data_root``): ``$DLCOURSE_DATA`` if set (the grader sets
it); else ``data/`` in the release root, the nearest folder at or above the working directory
that holds the ``dlcourse`` package or ``MANIFEST.json`` (the student release, the instructor's
repository, ``/content`` on Colab); else ``~/.dlcourse/data``.

Command line (from anywhere inside the release)::

    python -m dlcourse.data fashion-mnist-subset           # download one data set
    python -m dlcourse.data --week 03                      # everything week 3's notebooks use
    python -m dlcourse.data --notebook lectures/03_classification.ipynb
    python -m dlcourse.data --from /path/to/folder --week 03   # copy instead of downloading
    python -m dlcourse.data --list                         # the data sets and their files
    python -m dlcourse.data                                # every data set (`make data`)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import re
import shutil
import struct
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

__all__ = [
    "DATASETS",
    "DataError",
    "FASHION_MNIST_LABELS",
    "d2l_workdir",
    "data_root",
    "dataset_path",
    "fetch",
    "load_cora",
    "load_fashion_mnist",
    "load_imdb",
    "load_sentences",
    "load_text",
    "needs",
    "prepare",
    "read_idx",
]

FASHION_MNIST_LABELS = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip

_FMNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_D2L_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
_PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data/"
_RT_URL = "https://raw.githubusercontent.com/dennybritz/cnn-text-classification-tf/master/data/rt-polaritydata/"
_UCI_URL = "https://raw.githubusercontent.com/omarsar/dm_2018_hw_1/master/sentiment%20labelled%20sentences/"
_IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"


class DataError(RuntimeError):
    """A data file is missing or corrupt; the message says how to provide it."""


@dataclass(frozen=True)
class DataFile:
    """One file of a data set.

    ``path`` is where it lives under the data root, ``source`` where it lives under
    ``$COURSE_DATA_DIR``, ``url`` where it is downloaded from (None: not downloadable),
    ``sha256`` its checksum, taken over the decompressed bytes when ``gunzip`` is set (the
    Fashion-MNIST archives are re-compressed by some mirrors: same images, other bytes), or over
    the sorted (name, content) pairs of its ``.txt`` members when ``members`` is set (a tar cut
    from a bigger archive on a student's machine differs in its headers, not in its reviews).
    """

    path: str
    source: str
    sha256: str
    url: str | None = None
    gunzip: bool = False
    derive: str | None = None  # name of a function in _DERIVERS that can rebuild it
    members: bool = False  # a tar archive checksummed over its review files' names and contents


def _fmnist(split: str, kind: str, digest: str) -> DataFile:
    name = f"{split}-{kind}-ubyte.gz"
    return DataFile(f"fashion-mnist/full/{name}", f"fashion-mnist/full/{name}", digest,
                    url=_FMNIST_URL + name, gunzip=True)


def _fmnist_subset(split: str, kind: str, digest: str) -> DataFile:
    name = f"{split}-{kind}-ubyte.gz"
    return DataFile(f"fashion-mnist/subset-6k-2k/{name}", f"fashion-mnist/subset-6k-2k/{name}",
                    digest, gunzip=True, derive="fashion_mnist_subset")


def _d2l(name: str, digest: str) -> DataFile:
    # d2l.download(name) looks for ../data/<name>: keep these at the top of the data root.
    return DataFile(name, f"d2l-cache/{name}", digest, url=_D2L_URL + name)


def _cora(suffix: str, digest: str) -> DataFile:
    name = f"ind.cora.{suffix}"
    return DataFile(f"graph/planetoid/{name}", f"graph/planetoid/{name}", digest,
                    url=_PLANETOID_URL + name)


def _uci(source: str, digest: str) -> DataFile:
    name = f"{source}_labelled.txt"
    return DataFile(f"sentiment/sentiment_labelled_sentences/{name}",
                    f"sentiment/sentiment_labelled_sentences/{name}", digest, url=_UCI_URL + name)


DATASETS: dict[str, tuple[DataFile, ...]] = {
    "fashion-mnist": (
        _fmnist("train", "images-idx3", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        _fmnist("train", "labels-idx1", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        _fmnist("t10k", "images-idx3", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        _fmnist("t10k", "labels-idx1", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ),
    "fashion-mnist-subset": (
        _fmnist_subset("train", "images-idx3", "6dded81672539b5d148c1a85358069d1808c316dc6f6c0abfd12ba3ced5dd394"),
        _fmnist_subset("train", "labels-idx1", "d7c464914ae4b919728c5c99c3cdde5a0259febf1e99ddc6927a15768731d7dc"),
        _fmnist_subset("t10k", "images-idx3", "862035b0a96959b614c9574f4c2b0ae9584ca234813e8d6d7adb7838b12ca46b"),
        _fmnist_subset("t10k", "labels-idx1", "aa3f574d30afaf0d4d9da084a6f8541771e20693d6a97fae6e9a4953fca8f078"),
    ),
    "time-machine": (
        _d2l("timemachine.txt", "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516"),
    ),
    "airfoil": (
        _d2l("airfoil_self_noise.dat", "74c75fd71783f1e6b71f8a622b993dc592897a97cd689c5090a07147a1b097b3"),
    ),
    "house-prices": (
        _d2l("kaggle_house_pred_train.csv", "1e18addf81e5e4d347cc17ee6075bbe4a42b7fa26b9e5b063e8f692a5f929d41"),
        _d2l("kaggle_house_pred_test.csv", "8fdd3d829d4d986b58f845c9553b225e67dd8383624d90fb6ca1d4bed5798c1e"),
    ),
    "tiny-shakespeare": (
        DataFile("text/tinyshakespeare.txt", "text/tinyshakespeare.txt",
                 "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                 url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"),
    ),
    "cora": (
        _cora("x", "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab"),
        _cora("y", "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1"),
        _cora("tx", "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a"),
        _cora("ty", "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad"),
        _cora("allx", "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543"),
        _cora("ally", "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71"),
        _cora("graph", "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d"),
        _cora("test.index", "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875"),
    ),
    # Pang & Lee (2005) sentence polarity v1.0: 5,331 positive and 5,331 negative snippets.
    "rt-polarity": (
        DataFile("sentiment/rt-polarity.pos", "sentiment/rt-polarity.pos",
                 "4134882974a28d0c7b5151256f0e33a6169984ee7372c279e673f1114f475d58", url=_RT_URL + "rt-polarity.pos"),
        DataFile("sentiment/rt-polarity.neg", "sentiment/rt-polarity.neg",
                 "2d11cfbc790f1cd96d78339f41ce53ced1efa83cd22d37d6788fa3fe3d17e2fd", url=_RT_URL + "rt-polarity.neg"),
    ),
    # Kotzias et al. (2015), UCI "Sentiment Labelled Sentences": 1,000 per source, 500/500.
    "labelled-sentences": (
        _uci("amazon_cells", "47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3"),
        _uci("yelp", "c76468b7b5c6e56a0804d728345c5f84aa2142ddb214420f61cc9cfd4c00d2ea"),
        _uci("imdb", "29cb10b2bfbc60ea33dcbd5abaa8bcf977b142cec7926c627dd76232aaafbfed"),
    ),
    # Maas et al. (2011) IMDB reviews, ids 0-999 of each class in train and test (4,000 reviews);
    # online it is cut from the full 80 MB archive.
    "imdb-4k": (
        DataFile("sentiment/aclImdb_subset_4k.tar.gz", "sentiment/aclImdb_subset_4k.tar.gz",
                 "d3c19111a2ed1f668b0e78c5f07c95507630d4d217d116933532feff06fc0649", members=True, derive="imdb_subset"),
    ),
}


# Where the d2l book's data modules look for each course data set, relative to their
# root='../data': (file under the course's data root, file under d2l's root, gunzip it).
_D2L_LAYOUT: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "fashion-mnist": tuple((spec.path, f"FashionMNIST/raw/{Path(spec.path).stem}", True)
                           for spec in DATASETS["fashion-mnist"]),
    "time-machine": (("timemachine.txt", "timemachine.txt", False),),
}


def d2l_workdir(*names: str) -> Path:
    """A working directory from which the d2l book's data modules find the course's own files.

    d2l's data modules read ``root='../data'`` relative to the working directory, and
    torchvision's Fashion-MNIST (behind ``d2l.FashionMNIST``) wants the four IDX files
    unpacked under ``FashionMNIST/raw/``; it downloads whatever it misses. This makes sure the
    data sets ``names`` are in the course's data root (``fetch``), lays them out the way d2l
    expects under ``<temp>/dlcourse-d2l/data`` (once; the course's data folder is never
    written to) and returns ``<temp>/dlcourse-d2l/work``. Build the data module there::

        with contextlib.chdir(data.d2l_workdir("fashion-mnist")):
            fmnist = d2l.FashionMNIST(batch_size=256)
    """
    base = Path(tempfile.gettempdir()) / "dlcourse-d2l"
    for name in names:
        if name not in _D2L_LAYOUT:
            raise DataError(f"no d2l layout for {name!r}; known: {', '.join(sorted(_D2L_LAYOUT))}")
        root = fetch(name)
        for ours, theirs, gunzip in _D2L_LAYOUT[name]:
            dest = base / "data" / theirs
            if dest.is_file():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = _temp_beside(dest)
            with (gzip.open if gunzip else open)(root / ours, "rb") as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)
            os.chmod(tmp, 0o644)  # readable by everyone who shares the temporary folder
            os.replace(tmp, dest)  # atomic: a half-written file is never seen as present
    (base / "work").mkdir(parents=True, exist_ok=True)
    return base / "work"


# --------------------------------------------------------------------------- locating files


def release_root(start: Path | str | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (the working directory) that holds the
    ``dlcourse`` package or ``MANIFEST.json``: the student release, the instructor's repository,
    ``/content`` on Colab.  None when there is none."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dlcourse" / "__init__.py").is_file() or (folder / "MANIFEST.json").is_file():
            return folder
    return None


def data_root(create: bool = False) -> Path:
    """The ONE folder that holds the course data for every week.

    ``$DLCOURSE_DATA`` if set; else ``<release root>/data`` (see ``release_root``), so that
    ``lectures/x.ipynb`` and ``assignments/x/x.ipynb`` share it; else ``~/.dlcourse/data``.
    """
    env = os.environ.get("DLCOURSE_DATA")
    if env:
        root = Path(env)
    else:
        release = release_root()
        root = release / "data" if release else Path.home() / ".dlcourse" / "data"
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root


def _digest(path: Path, gunzip: bool) -> str:
    h = hashlib.sha256()
    opener = gzip.open if gunzip else open
    try:
        with opener(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except (OSError, EOFError):  # truncated or not gzip at all
        return ""
    return h.hexdigest()


def _members_digest(path: Path) -> str:
    """sha256 over the sorted (name, sha256 of content) of a tar's ``.txt`` members."""
    import tarfile

    h = hashlib.sha256()
    try:
        with tarfile.open(path, "r:*") as tar:
            entries = sorted((m.name, hashlib.sha256(tar.extractfile(m).read()).hexdigest())
                             for m in tar.getmembers() if m.isfile() and m.name.endswith(".txt"))
    except (OSError, EOFError, tarfile.TarError):
        return ""
    for name, digest in entries:
        h.update(f"{name}\0{digest}\n".encode())
    return h.hexdigest()


def _spec_digest(path: Path, spec: DataFile) -> str:
    return _members_digest(path) if spec.members else _digest(path, spec.gunzip)


def _is_valid(path: Path, spec: DataFile) -> bool:
    return path.is_file() and _spec_digest(path, spec) == spec.sha256


def _install(tmp: Path, dest: Path, spec: DataFile, origin: str) -> None:
    """Move a freshly written file into place, only if its checksum is right."""
    if _spec_digest(tmp, spec) != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{origin} has the wrong checksum for {spec.path} (expected sha256 "
                        f"{spec.sha256[:12]}...); the file is corrupt or a different version.")
    os.replace(tmp, dest)


def _temp_beside(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    return Path(name)


def _candidates(spec: DataFile, source_dir: Path) -> list[Path]:
    """Where a file may lie in a folder: the shared data folder's layout, or a data root's."""
    return list(dict.fromkeys((source_dir / spec.source, source_dir / spec.path)))


def _name_of(spec: DataFile) -> str:
    return next(n for n, files in DATASETS.items() if spec in files)


def _how_to_provide(spec: DataFile) -> str:
    name = _name_of(spec)
    if spec.url:
        origin = f"it is downloaded from {spec.url}"
    elif spec.derive:
        origin = "it is cut from the full data set, which is downloaded"
    else:
        origin = "it has no public address: use way 2"
    where = spec.source if spec.source == spec.path else f"{spec.source} (or {spec.path})"
    return "\n".join([
        f"  1. online: run `python -m dlcourse.data {name}` ({origin});",
        f"  2. offline: copy it from a folder that holds {where}, e.g. the course's shared data "
        f"folder: `python -m dlcourse.data --from /path/to/folder {name}` (instructors: set "
        "COURSE_DATA_DIR to that folder and run `make data`).",
    ])


def _fetch_file(spec: DataFile, root: Path, source_dir: Path | None, online: bool) -> Path:
    dest = root / spec.path
    if _is_valid(dest, spec):
        return dest
    problems = []
    if source_dir is not None:
        src = next((c for c in _candidates(spec, source_dir) if c.is_file()), None)
        if src is not None:
            tmp = _temp_beside(dest)
            try:
                shutil.copyfile(src, tmp)
                _install(tmp, dest, spec, f"{src}")
                return dest
            except (OSError, DataError) as err:
                problems.append(str(err))
            finally:
                tmp.unlink(missing_ok=True)
        else:
            problems.append(f"{source_dir / spec.source} does not exist.")
    if online and spec.url:
        tmp = _temp_beside(dest)
        try:
            with urllib.request.urlopen(spec.url, timeout=60) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f)
            _install(tmp, dest, spec, spec.url)
            return dest
        except (OSError, DataError) as err:
            problems.append(f"download from {spec.url} failed: {err}")
        finally:
            tmp.unlink(missing_ok=True)
    if spec.derive:
        try:
            _DERIVERS[spec.derive](root, source_dir, online)
            if _is_valid(dest, spec):
                return dest
        except DataError as err:
            problems.append(str(err).split("\nProvide it")[0])
    detail = ("\n  (" + " ".join(problems) + ")") if problems else ""
    raise DataError(f"Missing data file: {dest}{detail}\nProvide it in one of two ways:\n"
                    f"{_how_to_provide(spec)}")


def _new_dirs(root: Path, name: str) -> list[Path]:
    """The folders that fetching ``name`` into ``root`` would create, deepest first."""
    out: set[Path] = set()
    for spec in DATASETS[name]:
        folder = (root / spec.path).parent
        while not folder.exists() and folder != folder.parent:
            out.add(folder)
            folder = folder.parent
    return sorted(out, key=lambda p: len(p.parts), reverse=True)


def fetch(name: str, root: Path | str | None = None, source_dir: Path | str | None = None,
          online: bool = True) -> Path:
    """Make sure every file of data set ``name`` is present and intact; return the data root.

    ``source_dir`` defaults to ``$COURSE_DATA_DIR``.  Raises ``DataError`` naming the missing
    file and the two ways to provide it; a failure leaves no partial file and removes the
    (empty) folders it created.
    """
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    root = Path(root) if root is not None else data_root()
    if source_dir is None and os.environ.get("COURSE_DATA_DIR"):
        source_dir = os.environ["COURSE_DATA_DIR"]
    src = Path(source_dir) if source_dir is not None else None
    created = _new_dirs(root, name)
    try:
        for spec in DATASETS[name]:
            _fetch_file(spec, root, src, online)
    except BaseException:
        for folder in created:  # deepest first; only empty ones go
            try:
                folder.rmdir()
            except OSError:
                pass
        raise
    return root


def prepare(names: Iterable[str] | None = None, root: Path | str | None = None,
            source_dir: Path | str | None = None, online: bool = True,
            log: Callable[[str], None] = print) -> list[str]:
    """Fetch several data sets (all by default); return the error messages (empty: success)."""
    errors = []
    for name in names or DATASETS:
        try:
            where = fetch(name, root, source_dir, online)
            log(f"  ok   {name:22s} {len(DATASETS[name])} file(s) in {where}")
        except DataError as err:
            log(f"  FAIL {name}")
            errors.append(str(err))
    return errors


# --------------------------------------------------------------------------- derived files


def _write_idx_prefix(src: Path, dest: Path, count: int) -> None:
    """Write the first ``count`` records of the gzipped IDX file ``src`` to ``dest``."""
    with gzip.open(src, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = list(struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim]))
    record = 1
    for d in dims[1:]:
        record *= d
    header = raw[:4] + struct.pack(f">{ndim}I", count, *dims[1:])
    body = raw[4 + 4 * ndim : 4 + 4 * ndim + count * record]
    tmp = _temp_beside(dest)
    try:
        with gzip.open(tmp, "wb") as f:
            f.write(header + body)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _derive_fashion_subset(root: Path, source_dir: Path | None, online: bool) -> None:
    fetch("fashion-mnist", root, source_dir, online)
    for split, count in (("train", 6000), ("t10k", 2000)):
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{split}-{kind}-ubyte.gz"
            _write_idx_prefix(root / "fashion-mnist/full" / name,
                              root / "fashion-mnist/subset-6k-2k" / name, count)


def _derive_imdb_subset(root: Path, source_dir: Path | None, online: bool) -> None:
    """Cut reviews 0-999 of each class and split out of the full IMDB archive (online only)."""
    import tarfile

    if not online:
        raise DataError("the IMDB subset is cut from the full archive, which needs the internet")
    dest = root / "sentiment/aclImdb_subset_4k.tar.gz"
    full, tmp = _temp_beside(dest), _temp_beside(dest)
    keep = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d{1,3})_\d+\.txt$")
    try:
        with urllib.request.urlopen(_IMDB_URL, timeout=300) as r, open(full, "wb") as f:
            shutil.copyfileobj(r, f)
        with tarfile.open(full, "r:gz") as src, tarfile.open(tmp, "w:gz") as out:
            for member in src:
                if member.isfile() and keep.match(member.name):
                    out.addfile(member, src.extractfile(member))
        os.replace(tmp, dest)
    except (OSError, tarfile.TarError) as err:
        raise DataError(f"download from {_IMDB_URL} failed: {err}") from err
    finally:
        full.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


_DERIVERS: dict[str, Callable[[Path, Path | None, bool], None]] = {
    "fashion_mnist_subset": _derive_fashion_subset,
    "imdb_subset": _derive_imdb_subset,
}


# --------------------------------------------------------------------------- loaders


def read_idx(path: Path | str):
    """Read a (gzipped) IDX file into a uint8 tensor of shape (count, *dims)."""
    import numpy as np
    import torch

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    array = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return torch.from_numpy(array.copy())


def load_fashion_mnist(subset: bool = False, root: Path | str | None = None):
    """Fashion-MNIST as in-memory tensors: ``(X_train, y_train, X_test, y_test)``.

    ``X_*`` are float32 in [0, 1] of shape (n, 1, 28, 28); ``y_*`` are int64 of shape (n,).
    ``subset=True`` gives the 6,000/2,000 cut used where speed matters (grading).
    Keeping the whole set in one tensor (47 MB as float32) is much faster on a CPU than a
    ``DataLoader`` that decodes images one by one in worker processes.
    """
    name = "fashion-mnist-subset" if subset else "fashion-mnist"
    folder = fetch(name, root) / ("fashion-mnist/" + ("subset-6k-2k" if subset else "full"))
    out = []
    for split in ("train", "t10k"):
        X = read_idx(folder / f"{split}-images-idx3-ubyte.gz")
        y = read_idx(folder / f"{split}-labels-idx1-ubyte.gz")
        out += [X.unsqueeze(1).float().div_(255), y.long()]
    return tuple(out)


def load_text(name: str = "time-machine", root: Path | str | None = None) -> str:
    """The raw text of a registered single-file text data set ("time-machine", "tiny-shakespeare")."""
    (spec,) = DATASETS[name]
    return (fetch(name, root) / spec.path).read_text(encoding="utf-8")


def load_sentences(source: str, root: Path | str | None = None) -> tuple[list[str], list[int]]:
    """Labelled sentiment sentences as ``(texts, labels)`` with labels 1 = positive, 0 = negative.

    ``source`` is ``"rt-polarity"`` (10,662 movie-review snippets, positives first) or one of the
    UCI sets ``"amazon"``, ``"yelp"``, ``"imdb"`` (1,000 sentences each, in file order).
    """
    if source == "rt-polarity":
        root_dir = fetch("rt-polarity", root)
        texts, labels = [], []
        for label, ext in ((1, "pos"), (0, "neg")):
            raw = (root_dir / f"sentiment/rt-polarity.{ext}").read_bytes().decode("latin-1")
            lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
            texts += lines
            labels += [label] * len(lines)
        return texts, labels
    files = {"amazon": "amazon_cells", "yelp": "yelp", "imdb": "imdb"}
    if source not in files:
        raise DataError(f"unknown sentence source {source!r}; known: rt-polarity, {', '.join(files)}")
    root_dir = fetch("labelled-sentences", root)
    path = root_dir / f"sentiment/sentiment_labelled_sentences/{files[source]}_labelled.txt"
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        text, sep, label = line.rstrip().rpartition("\t")
        if sep and label in ("0", "1"):
            texts.append(text.strip())
            labels.append(int(label))
    return texts, labels


def load_imdb(root: Path | str | None = None) -> dict[str, tuple[list[str], list[int]]]:
    """The 4,000-review IMDB subset: ``{"train": (texts, labels), "test": (texts, labels)}``.

    Each split holds reviews 0-999 of each class (labels 1 = positive), ordered by class then id.
    """
    import tarfile

    path = fetch("imdb-4k", root) / "sentiment/aclImdb_subset_4k.tar.gz"
    name = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+)_\d+\.txt$")
    found: dict[str, list[tuple[int, int, str]]] = {"train": [], "test": []}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            m = name.match(member.name)
            if m and member.isfile():
                text = tar.extractfile(member).read().decode("utf-8")
                found[m[1]].append((m[2] == "neg", int(m[3]), text.replace("<br />", " ")))
    out = {}
    for split, rows in found.items():
        rows.sort()  # positives (False) first, then by id
        out[split] = ([t for _, _, t in rows], [0 if neg else 1 for neg, _, _ in rows])
    return out


def load_cora(root: Path | str | None = None, normalize_features: bool = True):
    """Cora with the Planetoid split (Yang et al. 2016), as used by Kipf & Welling (2017).

    Returns a dict of tensors: ``x`` (2708, 1433) float32 bag-of-words features (rows scaled to
    sum 1 when ``normalize_features``), ``y`` (2708,) int64 in 0..6, ``edge_index`` (2, E) int64
    with both directions of every undirected edge and no self-loops, and boolean masks
    ``train_mask`` (140 nodes), ``val_mask`` (500) and ``test_mask`` (1000).
    """
    import pickle

    import numpy as np
    import torch

    folder = fetch("cora", root) / "graph/planetoid"
    parts = {}
    for key in ("x", "y", "tx", "ty", "allx", "ally", "graph"):
        with open(folder / f"ind.cora.{key}", "rb") as f:
            parts[key] = pickle.load(f, encoding="latin1")  # scipy sparse / numpy / dict
    test_index = [int(v) for v in (folder / "ind.cora.test.index").read_text().split()]
    order = np.sort(test_index)
    allx = parts["allx"].toarray()
    tx = parts["tx"].toarray()
    n = allx.shape[0] + tx.shape[0]
    x = np.zeros((n, allx.shape[1]), dtype=np.float32)
    labels = np.zeros((n, parts["ally"].shape[1]), dtype=np.float32)
    x[: allx.shape[0]] = allx
    labels[: allx.shape[0]] = parts["ally"]
    # The test rows are stored in the order of test.index; place them at their node ids.
    x[test_index] = tx
    labels[test_index] = parts["ty"]
    src, dst = [], []
    for node, neighbours in parts["graph"].items():
        for other in neighbours:
            if other != node:
                src += [node, other]
                dst += [other, node]
    edges = np.unique(np.array([src, dst], dtype=np.int64), axis=1)
    x_t = torch.from_numpy(x)
    if normalize_features:
        x_t = x_t / x_t.sum(1, keepdim=True).clamp_min(1)
    def mask(idx) -> torch.Tensor:
        return torch.zeros(n, dtype=torch.bool).index_fill_(0, torch.as_tensor(list(idx)), True)

    n_train = parts["y"].shape[0]
    return {
        "x": x_t,
        "y": torch.from_numpy(labels.argmax(1)).long(),
        "edge_index": torch.from_numpy(edges),
        "train_mask": mask(range(n_train)),
        "val_mask": mask(range(n_train, n_train + 500)),
        "test_mask": mask(order.tolist()),
    }


def dataset_path(name: str, root: Path | str | None = None) -> Path:
    """Path of the first file of data set ``name`` after fetching it (handy for single-file sets)."""
    return fetch(name, root) / DATASETS[name][0].path


# --------------------------------------------------------------------------- what a notebook needs

_USES = (  # (pattern, data set); a group 1 names the data set itself
    (re.compile(r"load_fashion_mnist\(\s*subset\s*=\s*True"), "fashion-mnist-subset"),
    (re.compile(r"load_fashion_mnist\((?!\s*subset\s*=\s*True)"), "fashion-mnist"),
    (re.compile(r"load_text\(\s*\)"), "time-machine"),
    (re.compile(r"load_cora\("), "cora"),
    (re.compile(r"load_imdb\("), "imdb-4k"),
    (re.compile(r"load_sentences\(\s*[\"']rt-polarity"), "rt-polarity"),
    (re.compile(r"load_sentences\(\s*[\"'](?:amazon|yelp|imdb)"), "labelled-sentences"),
    (re.compile(r"\b(?:load_text|dataset_path|fetch)\(\s*[\"']([\w-]+)[\"']"), None),
    (re.compile(r"^\s*datasets:\s*\[([^\]]*)\]", re.M), None),  # a source assignment's config
)


def needs(path: Path | str) -> list[str]:
    """The data sets a notebook (or a ``.py`` file, e.g. public tests) loads, read from its code."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        import json

        cells = json.loads(text).get("cells", [])
        text = "\n".join("".join(c.get("source", "")) for c in cells)
    found = []
    for pattern, name in _USES:
        for m in pattern.finditer(text):
            found += [name] if name else [n.strip(" \"'") for n in m.group(1).split(",")]
    return [n for n in dict.fromkeys(found) if n in DATASETS]


def week_files(week: str, base: Path | str | None = None) -> list[Path]:
    """Week ``week``'s lecture, assignment notebook(s) and public tests under the release root."""
    base = Path(base) if base is not None else (release_root() or Path.cwd())
    week = f"{int(week):02d}" if str(week).isdigit() else str(week)
    files = sorted(base.glob(f"lectures/{week}_*.ipynb"))
    for folder in sorted(base.glob(f"assignments/{week}_*")):
        files += sorted(p for p in folder.rglob("*") if p.suffix in (".ipynb", ".py")
                        and ".ipynb_checkpoints" not in p.parts)
    return files


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlcourse.data", description=__doc__.split("\n")[0],
        epilog="Without data sets, --week or --notebook: every data set. The data root is "
               "$DLCOURSE_DATA, else data/ in the release root, else ~/.dlcourse/data.")
    parser.add_argument("names", nargs="*", help="data sets to get (see --list)")
    parser.add_argument("--week", action="append", default=[],
                        help="every data set week NN's notebooks load, e.g. --week 03")
    parser.add_argument("--notebook", action="append", default=[],
                        help="every data set this notebook loads")
    parser.add_argument("--from", "--source", dest="source", metavar="FOLDER",
                        help="copy from this folder instead of downloading (laid out like the "
                             "course's shared data folder or like a data root)")
    parser.add_argument("--root", help="data root to fill (default: the shared one, see below)")
    parser.add_argument("--offline", action="store_true", help="never try to download")
    parser.add_argument("--list", action="store_true", help="list the data sets and their files")
    args = parser.parse_args(argv)
    if args.list:
        for name, files in DATASETS.items():
            print(f"{name:22s} " + ", ".join(f.path for f in files))
        return 0
    names = list(args.names)
    bad = [n for n in names if n not in DATASETS]
    for week in args.week:
        files = week_files(week)
        if not files:
            bad.append(f"week {week} (no lectures/{week}_* or assignments/{week}_* here)")
        names += [n for f in files for n in needs(f)]
    for nb in args.notebook:
        if not Path(nb).is_file():
            bad.append(f"notebook {nb} (no such file)")
        else:
            names += needs(nb)
    if bad:
        print(f"unknown: {', '.join(bad)}\nknown data sets: {', '.join(DATASETS)}", file=sys.stderr)
        return 2
    names = list(dict.fromkeys(names))
    if (args.week or args.notebook) and not names:
        print("nothing to get: those notebooks load no registered data set")
        return 0
    root = Path(args.root) if args.root else data_root()
    # --from copies (never downloads); otherwise $COURSE_DATA_DIR first, then the internet
    src = args.source or os.environ.get("COURSE_DATA_DIR")
    online = not (args.offline or args.source)
    if args.source and not Path(args.source).is_dir():
        print(f"--from {args.source}: no such folder", file=sys.stderr)
        return 2
    where = " then ".join(filter(None, [src, "the internet" if online else None])) or "nowhere (offline)"
    print(f"Getting {', '.join(names) if names else 'every data set'} into {root}/ from {where}")
    errors = prepare(names or None, root, src, online=online)
    for err in errors:
        print("\n" + err, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
