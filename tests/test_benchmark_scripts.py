"""The benchmark scripts run (``--smoke``: tiny sizes, one repeat, figures meaningless), so the
commands the README and RESULTS.md give keep working; their figures come from quiet machines,
never from the test run."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_towers_benchmark_compares_every_tower_and_finds_equal_outputs(capsys):
    script("bench_towers").main(["--smoke"])
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith(("open_clip", "hf CLIP", "timm"))]
    assert len(rows) == 10
    for row in rows:
        ours, library, ratio, diff = (float(v) for v in row.split()[-4:])
        assert ours > 0 and library > 0 and ratio > 0 and diff < 1e-5, row


def test_fbank_benchmark_finds_equal_values(capsys):
    script("bench_fbank").main(["--smoke"])
    out = capsys.readouterr().out
    diffs = [float(line.split("max |diff|")[1]) for line in out.splitlines() if "max |diff|" in line]
    assert len(diffs) == 2 and max(diffs) < 1e-4 and "ours (one FFT per recording)" in out


def test_loading_benchmark_measures_both_ways(capsys):
    script("bench_load").main(["--smoke", "--modalities", "vision,audio"])
    out = capsys.readouterr().out
    assert "old: random weights" in out and "meta: parameters on meta" in out and "ratio old / meta" in out


@pytest.mark.parametrize("name, keys", [
    ("bench_ann", ("query_process", "latency", "memory")),
    ("bench_serve", ("search, 1 thread(s)", "serve, 8 client(s)")),
    ("bench_embed_shards", ("shards", "overhead", "embed_alone_s")),
])
def test_index_serve_embed_benchmarks_smoke_run(name, keys, tmp_path, capsys):
    script(name).main(["--smoke", "--json", str(tmp_path / "out.json"), "--workdir", str(tmp_path / "work")])
    result = json.loads((tmp_path / "out.json").read_text())
    assert all(key in result for key in keys)
    assert "==" in capsys.readouterr().out  # the summary was printed
