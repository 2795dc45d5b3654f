"""dlcourse.data: the registry, local copies, checksums, derived subsets and loaders."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import tempfile

import pytest
import torch

from dlcourse import data

SHARED = os.environ.get("COURSE_DATA_DIR")
needs_shared = pytest.mark.skipif(not SHARED, reason="COURSE_DATA_DIR is not set")


def _offline(*args, **kwargs):
    raise OSError("network is unreachable")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(data.urllib.request, "urlopen", _offline)


def test_every_registered_file_has_a_checksum_and_a_way_to_get_it():
    for name, files in data.DATASETS.items():
        for spec in files:
            assert len(spec.sha256) == 64, spec
            assert spec.url or spec.derive, f"{name}: {spec.path} can only come from a local folder"


@needs_shared
def test_fetch_copies_from_the_course_data_dir_and_verifies(tmp_path):
    root = data.fetch("time-machine", root=tmp_path, source_dir=SHARED)
    assert (root / "timemachine.txt").stat().st_size == 178_979


def test_a_missing_file_names_it_and_the_two_ways_to_provide_it(tmp_path):
    with pytest.raises(data.DataError) as err:
        data.fetch("time-machine", root=tmp_path / "data", source_dir=tmp_path / "empty")
    msg = str(err.value)
    assert "timemachine.txt" in msg and "COURSE_DATA_DIR" in msg and "d2l-cache/timemachine.txt" in msg
    assert "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt" in msg
    assert not list((tmp_path / "data").glob("*")), "a failed fetch left files behind"


def test_a_corrupt_source_file_is_refused(tmp_path):
    src = tmp_path / "src" / "d2l-cache"
    src.mkdir(parents=True)
    (src / "timemachine.txt").write_text("not the time machine")
    with pytest.raises(data.DataError, match="wrong checksum"):
        data.fetch("time-machine", root=tmp_path / "data", source_dir=tmp_path / "src")
    assert not (tmp_path / "data" / "timemachine.txt").exists()


def _idx(path, records):
    arr = torch.arange(records * 4, dtype=torch.uint8).reshape(records, 2, 2)
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x08\x03" + struct.pack(">3I", records, 2, 2) + arr.numpy().tobytes())
    return arr


def test_read_idx_round_trips(tmp_path):
    arr = _idx(tmp_path / "x.gz", 5)
    assert torch.equal(data.read_idx(tmp_path / "x.gz"), arr)


def test_idx_prefix_writes_a_valid_smaller_file(tmp_path):
    arr = _idx(tmp_path / "x.gz", 7)
    data._write_idx_prefix(tmp_path / "x.gz", tmp_path / "y.gz", 3)
    assert torch.equal(data.read_idx(tmp_path / "y.gz"), arr[:3])


@needs_shared
def test_the_subset_is_derived_from_the_full_set_when_missing(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(os.path.join(SHARED, "fashion-mnist", "full"), src / "fashion-mnist" / "full")
    root = data.fetch("fashion-mnist-subset", root=tmp_path / "data", source_dir=src)
    for spec in data.DATASETS["fashion-mnist-subset"]:
        assert data._is_valid(root / spec.path, spec)


@needs_shared
def test_load_fashion_mnist_subset_shapes_and_ranges(tmp_path):
    X, y, X_test, y_test = data.load_fashion_mnist(subset=True, root=data.fetch(
        "fashion-mnist-subset", root=tmp_path, source_dir=SHARED))
    assert X.shape == (6000, 1, 28, 28) and X.dtype == torch.float32
    assert X_test.shape == (2000, 1, 28, 28) and y.dtype == torch.int64
    assert 0 <= X.min() and X.max() <= 1 and set(y.unique().tolist()) == set(range(10))


def _release(tmp_path):
    """A fake student release: the dlcourse package at its root, a lecture and an assignment."""
    (tmp_path / "dlcourse").mkdir(parents=True)
    (tmp_path / "dlcourse" / "__init__.py").write_text("")
    for folder in ("lectures", "assignments/03_x/tests"):
        (tmp_path / folder).mkdir(parents=True)
    return tmp_path


def test_every_week_shares_one_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("DLCOURSE_DATA", raising=False)
    release = _release(tmp_path / "course")
    for where in (release, release / "lectures", release / "assignments" / "03_x" / "tests"):
        monkeypatch.chdir(where)
        assert data.data_root() == release / "data"
    (release / "dlcourse" / "__init__.py").unlink()  # a release is also known by its MANIFEST.json
    (release / "MANIFEST.json").write_text("{}")
    monkeypatch.chdir(release / "assignments" / "03_x")
    assert data.data_root() == release / "data"
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path / "elsewhere"))  # what the grader sets
    assert data.data_root() == tmp_path / "elsewhere"
    monkeypatch.delenv("DLCOURSE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "loose").mkdir()
    monkeypatch.chdir(tmp_path / "loose")  # nowhere near a release (e.g. a bare Colab runtime)
    assert data.data_root() == tmp_path / "home" / ".dlcourse" / "data"
    assert not (tmp_path / "home").exists(), "finding the root must not create it"


TOY = b"a toy data set\n"


@pytest.fixture
def toy(monkeypatch):
    """A small fake data set, registered for the test only."""
    spec = data.DataFile("toy/deep/toy.txt", "toy-src/toy.txt", hashlib.sha256(TOY).hexdigest(),
                         url="http://example.invalid/toy.txt")
    monkeypatch.setitem(data.DATASETS, "toy", (spec,))
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.delenv("DLCOURSE_DATA", raising=False)
    return spec


def test_the_cli_copies_a_data_set_from_a_folder_into_the_shared_root(tmp_path, monkeypatch, toy):
    release = _release(tmp_path / "course")
    shared = tmp_path / "usb"  # laid out like the course's shared data folder
    (shared / "toy-src").mkdir(parents=True)
    (shared / "toy-src" / "toy.txt").write_bytes(TOY)
    monkeypatch.chdir(release / "assignments" / "03_x")
    assert data.main(["--from", str(shared), "toy"]) == 0
    assert (release / "data" / "toy" / "deep" / "toy.txt").read_bytes() == TOY
    other = _release(tmp_path / "other")  # a folder laid out like a data root works too
    monkeypatch.chdir(other)
    assert data.main(["--from", str(release / "data"), "toy"]) == 0
    assert (other / "data" / "toy" / "deep" / "toy.txt").read_bytes() == TOY


def test_week_and_notebook_options_get_what_the_notebooks_load(tmp_path, monkeypatch, toy):
    release = _release(tmp_path / "course")
    nb = {"cells": [{"cell_type": "code", "source": ["text = data.load_text(\"toy\")\n"]}]}
    (release / "lectures" / "03_x.ipynb").write_text(json.dumps(nb))
    (release / "lectures" / "04_y.ipynb").write_text(json.dumps({"cells": []}))
    (release / "assignments" / "03_x" / "tests" / "q1.py").write_text(
        "X, y, _, _ = data.load_fashion_mnist(subset=True)\n")
    assert data.needs(release / "lectures" / "03_x.ipynb") == ["toy"]
    assert [n for f in data.week_files("3", release) for n in data.needs(f)] == [
        "toy", "fashion-mnist-subset"]
    shared = tmp_path / "usb"
    (shared / "toy-src").mkdir(parents=True)
    (shared / "toy-src" / "toy.txt").write_bytes(TOY)
    monkeypatch.chdir(release)
    assert data.main(["--from", str(shared), "--notebook", "lectures/03_x.ipynb"]) == 0
    assert (release / "data" / "toy" / "deep" / "toy.txt").is_file()
    assert data.main(["--week", "04"]) == 0  # a week that loads nothing: nothing to do
    assert data.main(["--week", "12"]) == 2


@pytest.mark.parametrize("how", ["offline", "missing folder", "bad checksum", "cut download"])
def test_a_failed_attempt_leaves_nothing_behind_and_says_both_ways(tmp_path, monkeypatch, capsys,
                                                                   toy, how):
    release = _release(tmp_path / "course")
    monkeypatch.chdir(release / "lectures")
    argv = ["toy"]
    if how == "missing folder":
        (tmp_path / "empty").mkdir()
        argv = ["--from", str(tmp_path / "empty"), "toy"]
    elif how == "bad checksum":
        (tmp_path / "usb" / "toy-src").mkdir(parents=True)
        (tmp_path / "usb" / "toy-src" / "toy.txt").write_bytes(b"another version\n")
        argv = ["--from", str(tmp_path / "usb"), "toy"]
    elif how == "cut download":
        class Cut(io.BytesIO):
            def read(self, *args):
                if self.tell():
                    raise OSError("connection reset")
                return super().read(4)

            def __exit__(self, *exc):
                return False

        monkeypatch.setattr(data.urllib.request, "urlopen", lambda *a, **k: Cut(TOY))
    assert data.main(argv) == 1
    assert not (release / "data").exists(), sorted((release / "data").rglob("*"))
    err = capsys.readouterr().err
    assert f"Missing data file: {release / 'data' / 'toy' / 'deep' / 'toy.txt'}" in err
    assert "`python -m dlcourse.data toy`" in err and "http://example.invalid/toy.txt" in err
    assert "`python -m dlcourse.data --from /path/to/folder toy`" in err
    assert "toy-src/toy.txt (or toy/deep/toy.txt)" in err


def test_a_failed_fetch_keeps_folders_it_did_not_create(tmp_path, toy):
    (tmp_path / "data" / "toy").mkdir(parents=True)
    (tmp_path / "data" / "toy" / "mine.txt").write_text("keep me")
    with pytest.raises(data.DataError):
        data.fetch("toy", root=tmp_path / "data")
    assert sorted(p.name for p in (tmp_path / "data").rglob("*")) == ["mine.txt", "toy"]


def test_d2l_workdir_lays_out_course_files_where_d2l_looks(tmp_path, monkeypatch):
    if not (data.data_root() / "timemachine.txt").is_file():
        pytest.skip("the course data are not set up (make data)")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    work = data.d2l_workdir("time-machine")
    copy = work.parent / "data" / "timemachine.txt"          # d2l reads ../data/<name>
    assert copy.read_bytes() == (data.data_root() / "timemachine.txt").read_bytes()
    assert hashlib.sha1(copy.read_bytes()).hexdigest() == "090b5e7e70c295757f55df93cb0a180b9691891a"
    assert data.d2l_workdir("time-machine") == work          # a second call reuses the copy
    with pytest.raises(data.DataError):
        data.d2l_workdir("cora")


@needs_shared
def test_cora_loader_gives_the_planetoid_split(tmp_path):
    cora = data.load_cora(tmp_path)
    assert cora["x"].shape == (2708, 1433) and cora["x"].dtype == torch.float32
    assert torch.allclose(cora["x"].sum(1), torch.ones(2708))  # rows normalised
    assert cora["y"].bincount().tolist() == [351, 217, 418, 818, 426, 298, 180]
    ei = cora["edge_index"]
    assert ei.shape == (2, 10556) and not (ei[0] == ei[1]).any()  # 5,278 edges, both ways
    flipped = set(map(tuple, ei.flip(0).T.tolist()))
    assert flipped == set(map(tuple, ei.T.tolist()))  # undirected
    sizes = [int(cora[k].sum()) for k in ("train_mask", "val_mask", "test_mask")]
    assert sizes == [140, 500, 1000]
    assert not (cora["train_mask"] & cora["test_mask"]).any()
    assert torch.equal(cora["train_mask"].nonzero().squeeze(1), torch.arange(140))


@needs_shared
def test_sentiment_loaders_give_balanced_labelled_text(tmp_path):
    texts, labels = data.load_sentences("rt-polarity", tmp_path)
    assert len(texts) == 10662 and sum(labels) == 5331 and all(texts)
    for source in ("amazon", "yelp", "imdb"):
        texts, labels = data.load_sentences(source, tmp_path)
        assert len(texts) == 1000 and sum(labels) == 500 and "\t" not in "".join(texts)
    imdb = data.load_imdb(tmp_path)
    for split in ("train", "test"):
        texts, labels = imdb[split]
        assert len(texts) == 2000 and labels[:1000] == [1] * 1000 and labels[1000:] == [0] * 1000
        assert not any("<br />" in t for t in texts)
    with pytest.raises(data.DataError, match="unknown sentence source"):
        data.load_sentences("twitter", tmp_path)


def test_a_tar_is_checked_by_its_reviews_not_its_headers(tmp_path):
    import tarfile

    def write(path, reviews, mtime):
        with tarfile.open(path, "w:gz") as tar:
            for name, text in reviews:
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(text), mtime
                tar.addfile(info, io.BytesIO(text))

    reviews = [("aclImdb/train/pos/0_9.txt", b"great"), ("aclImdb/train/neg/0_1.txt", b"awful")]
    write(tmp_path / "a.tar.gz", reviews, 0)
    write(tmp_path / "b.tar.gz", reviews[::-1], 12345)  # other order and headers: same reviews
    write(tmp_path / "c.tar.gz", [reviews[0], ("aclImdb/train/neg/0_1.txt", b"fine")], 0)
    digest = data._members_digest
    assert digest(tmp_path / "a.tar.gz") == digest(tmp_path / "b.tar.gz") != ""
    assert digest(tmp_path / "c.tar.gz") != digest(tmp_path / "a.tar.gz")
    (tmp_path / "d.tar.gz").write_bytes(b"not a tar")
    assert digest(tmp_path / "d.tar.gz") == ""
