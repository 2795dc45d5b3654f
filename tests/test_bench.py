"""The pure parts of `make bench`: parsing notebook output and results.json, formatting tables."""

from __future__ import annotations

import gzip

from autograder import bench, bench_d2l


def test_parse_results_reads_name_value_and_target():
    text = ("epoch 1: ...\n"
            "RESULT from-scratch test accuracy = 0.8393 (target >= 0.83 in <= 30 s; d2l 0.83)\n"
            "RESULT airfoil test RMSE (SGD) = 5.109\n"
            "not a RESULT line = 3\n")
    assert bench.parse_results(text) == [
        {"name": "from-scratch test accuracy", "value": "0.8393",
         "target": ">= 0.83 in <= 30 s; d2l 0.83"},
        {"name": "airfoil test RMSE (SGD)", "value": "5.109", "target": None},
    ]


def test_score_of_uses_top_level_score_else_sum_of_tests():
    tests = [{"score": 2, "max_score": 2}, {"score": 0, "max_score": 3}]
    assert bench.score_of({"tests": tests}) == "2/5"
    assert bench.score_of({"score": 4.5, "tests": tests}) == "4.5/5"
    assert bench.full_marks("20/20") and not bench.full_marks("16/20")
    assert not bench.full_marks("0/0") and not bench.full_marks("?")


def test_margin_and_table_formatting():
    assert bench.margin(30, 120) == "+90 (+75%)"
    assert bench.margin(840, 700) == "-140 (-20%)"
    assert bench.margin(None, 700) == "-"
    table = bench.md_table(["a", "b"], [[1, None], ["x|y", "two\nlines"]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | - |", "| x\\|y | two lines |"]


def test_week_selection():
    assert bench.wanted("03_classification", None)
    assert bench.wanted("03_classification", ["3"]) and bench.wanted("03_classification", ["03"])
    assert bench.wanted("03_classification", ["03_classification"])
    assert not bench.wanted("13_gans", ["1"]) and not bench.wanted("03_classification", ["01", "04"])


def test_headline_joins_results_and_score():
    row = {"results": [{"name": "acc", "value": "0.87", "target": ">= 0.86"}], "score": "20/20"}
    assert bench.headline(row) == "acc 0.87 (target >= 0.86); score 20/20"


def test_render_has_every_section():
    report = {
        "machine": {"date": "2026-01-01", "cpus": 2, "cpu_model": "cpu", "memory_gb": 8,
                    "platform": "linux", "python": "3.11", "torch": "2", "gpu": None,
                    "load_at_start": "0.0 0.0 0.0", "omp_num_threads": "unset"},
        "command": "python -m autograder.bench --limits",
        "rows": [{"notebook": "lectures/01_tensors", "seconds": 9.4, "peak_mb": 744, "ok": True,
                  "results": []}],
        "limits": [{"assignment": "01_tensors", "limits": "1 CPU, 1.5 GB", "pass": True,
                    "oom_killed": False, "timed_out": False, "score": "20/20", "seconds": 30.0,
                    "peak_mb": 600, "rss_peak_mb": 650, "backend": "taskset", "note": "not enforced"}],
        "build": [{"step": "from clean, -j2", "seconds": 60.0, "peak_mb": 900, "ok": True, "zips": 5}],
    }
    md = bench.render(report)
    assert "GPU: none present" in md and "quiet machine" in md and "Note: not enforced" in md
    assert "| 01_tensors | 1 CPU, 1.5 GB | yes | 20/20 | 30.0 | 600 | 650 | +90 (+75%) | +100 (+14%) |" in md
    assert "| from clean, -j2 | 60.0 | 900 | yes | 5 |" in md


def test_time_to_accuracy_and_summary():
    d2l_curve = [{"seconds": 20.0, "acc": 0.78}, {"seconds": 40.0, "acc": 0.82}]
    course_curve = [{"seconds": 2.0, "acc": 0.81}, {"seconds": 4.0, "acc": 0.83}]
    assert bench_d2l.time_to_accuracy(course_curve, 0.82) == 4.0
    assert bench_d2l.time_to_accuracy(course_curve, 0.9) is None
    runs = {"d2l": {"curve": d2l_curve, "setup_seconds": 3.0, "peak_mb": 3000},
            "course": {"curve": course_curve, "setup_seconds": 1.0, "peak_mb": 900}}
    s = bench_d2l.summarise("03", runs)
    assert s["d2l_final_acc"] == 0.82 and s["d2l_seconds"] == 40.0
    assert s["course"]["seconds_to_d2l_acc"] == 4.0 and s["course"]["speedup"] == 10.0
    assert s["d2l"]["speedup"] == 1.0
    md = bench_d2l.markdown([s], {"03": runs})
    assert "| 03 | softmax regression | course | 1.0 | 2 | 0.8300 | 4.0 | 4.0 | 10.0x | 900 |" in md
    assert "0.810@2.0s 0.830@4.0s" in md


def test_prepare_torchvision_root_unpacks_gz(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    with gzip.open(src / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    raw = bench_d2l.prepare_torchvision_root(tmp_path / "data", src)
    assert raw == tmp_path / "data" / "FashionMNIST" / "raw"
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes().endswith(b"\x07")


def test_readme_links_the_published_table():
    root = bench.config.ROOT
    assert "docs/bench/latest.md" in (root / "README.md").read_text()
    assert (root / "docs" / "bench" / "latest.md").is_file()
