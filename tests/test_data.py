"""dlcourse.data: the registry, local copies, checksums, derived subsets and loaders."""

from __future__ import annotations

import gzip
import os
import shutil
import struct

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


def test_data_root_finds_a_data_folder_above(tmp_path, monkeypatch):
    monkeypatch.delenv("DLCOURSE_DATA", raising=False)
    (tmp_path / "data").mkdir()
    deep = tmp_path / "assignments" / "01_x"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert data.data_root() == tmp_path / "data"
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path / "elsewhere"))
    assert data.data_root() == tmp_path / "elsewhere"
