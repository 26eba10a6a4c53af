"""The scale benchmarks run end to end at tiny sizes (``--smoke``), exactly as the lead runs
them at full size; their figures are meaningless here and are not checked, only that every
line is printed and that the compared variants agree."""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(script, *args):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--smoke", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _diffs(text):
    return [float(x) for x in re.findall(r"\|(?:grad )?diff\|(?: \(a, b, log_scale\))? ?=? ?([0-9.e+-]+)", text)]


def test_loss_benchmark_smoke():
    out = _run("bench_loss.py")
    for line in ("ours InfoNCE", "open_clip ClipLoss", "ours sigmoid", "open_clip SigLipLoss",
                 "sigmoid vs softmax (ours)"):
        assert line in out, out
    assert out.count("speed-up vs open_clip") == 5
    assert all(diff < 1e-4 for diff in _diffs(out)) and len(_diffs(out)) == 4, out


def test_grad_cache_benchmark_smoke():
    out = _run("bench_grad_cache.py", "--precision", "32")
    for line in ("whole batch", "grad cache c=8", "step time ratio", "peak memory ratio during step",
                 "peak memory ratio in total"):
        assert line in out, out
    assert all(diff < 1e-5 for diff in _diffs(out)) and len(_diffs(out)) == 2, out
