"""Loading a saved ImageBind-size model: time and peak memory, meta-device loading vs the old way.

The six ``imagebind_huge`` presets (about 1.2 B parameters) are built with random weights and
saved to a temporary directory (or ``--model DIR`` is loaded as it is). Each loading then runs
in a fresh process, alternating:

- ``meta``: ``load_model(dir)``: parameters built on the meta device, saved tensors assigned;
- ``old``: ``load_model(dir, empty_init=False)``: random weights allocated and initialised
  first, the saved ones copied over them.

A child reports the wall time of ``load_model`` and its peak resident memory (``ru_maxrss``)
above what importing the library cost; medians over ``--repeats`` are printed with the ratios.

Usage: python benchmarks/bench_load.py [--modalities vision,text,audio,depth,thermal,imu]
                                       [--dtype float32|bfloat16] [--repeats 3] [--model DIR]
       python benchmarks/bench_load.py --smoke      # tiny presets, one process: checks it runs
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODALITIES = ("vision", "text", "audio", "depth", "thermal", "imu")
MODES = {"meta": True, "old": False}


def child(directory: str, modes: list[str]) -> None:
    """Runs in a fresh process: load once per mode, print {"seconds", "peak_mib"} per mode as JSON
    lines. Only the first mode's peak is clean (the peak never goes down): real runs pass one."""
    import torch  # noqa: F401  (imported before the baseline: it is not what is measured)

    import imagebind_lite as ib

    ib.list_modalities()
    for mode in modes:
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        model = ib.load_model(directory, empty_init=MODES[mode])
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        parameters = sum(p.numel() for p in model.parameters())
        del model
        print(json.dumps({"mode": mode, "seconds": seconds, "peak_mib": (peak - baseline) / 1024,
                          "parameters": parameters}))


def save_random_model(directory: Path, modalities: list[str], preset: str, dtype: str) -> None:
    import torch

    import imagebind_lite as ib

    torch.manual_seed(0)
    model = ib.MultiModalModel.from_presets({m: preset for m in modalities})
    ib.save_model(model.to(getattr(torch, dtype)), directory)


def measure(directory: Path, modes: list[str]) -> list[dict]:
    result = subprocess.run([sys.executable, __file__, "--child", str(directory), "--mode", ",".join(modes)],
                            capture_output=True, text=True, check=True)
    return [json.loads(line) for line in result.stdout.strip().splitlines() if line.startswith("{")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modalities", default=",".join(MODALITIES))
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, help="a saved model to load instead of a random ImageBind-size one")
    parser.add_argument("--smoke", action="store_true", help="tiny presets, one repeat")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.mode.split(","))
    repeats = 1 if args.smoke else args.repeats
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.model or Path(scratch) / "model"
        if args.model is None:
            save_random_model(directory, args.modalities.split(","), "tiny" if args.smoke else "imagebind_huge", args.dtype)
        runs = {mode: [] for mode in MODES}
        for repeat in range(repeats):
            order = list(MODES) if repeat % 2 == 0 else list(MODES)[::-1]
            # one fresh process per loading; the smoke run shares one (its figures mean nothing)
            for result in (measure(directory, order) if args.smoke else
                           [r for mode in order for r in measure(directory, [mode])]):
                runs[result["mode"]].append(result)
    medians = {mode: {key: statistics.median(r[key] for r in results) for key in ("seconds", "peak_mib")}
               for mode, results in runs.items()}
    print(f"{runs['meta'][0]['parameters'] / 1e6:.1f} M parameters ({args.dtype}), {repeats} repeat(s), medians")
    print(f"{'loading':<42} {'seconds':>9} {'peak MiB':>10}")
    for mode, label in (("old", "old: random weights, then copied over"), ("meta", "meta: parameters on meta, assigned")):
        print(f"{label:<42} {medians[mode]['seconds']:9.2f} {medians[mode]['peak_mib']:10.0f}")
    old, new = medians["old"], medians["meta"]
    # peaks below 1 MiB (tiny models) read as 1 MiB, so the ratio stays a number
    print(f"{'ratio old / meta':<42} {old['seconds'] / max(new['seconds'], 1e-9):9.2f} "
          f"{max(old['peak_mib'], 1.0) / max(new['peak_mib'], 1.0):10.2f}")


if __name__ == "__main__":
    main()
