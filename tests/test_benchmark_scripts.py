"""The tower benchmarks run (``--smoke``: tiny models, one repeat); their figures come from quiet
machines, never from the test run."""
from __future__ import annotations

import importlib.util
from pathlib import Path

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


def test_loading_benchmark_measures_both_ways(capsys):
    script("bench_load").main(["--smoke", "--modalities", "vision,audio"])
    out = capsys.readouterr().out
    assert "old: random weights" in out and "meta: parameters on meta" in out and "ratio old / meta" in out
