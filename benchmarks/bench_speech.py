"""Audio presets on a small real speech set, through the public path only, beside two baselines.

    python benchmarks/bench_speech.py [--presets tiny,cnn] [--augment AUG.yaml ...] [--json OUT.json]
    python benchmarks/bench_speech.py --tiny          # smoke run, figures meaningless

What a user with a few hundred real clips would do: the set (speech_set.py: espeak-ng voices,
each clip paired with an image of its class; image-caption pairs; a frozen world-pretrained
image pivot) is trained and evaluated with the framework's own commands, run in-process exactly
as the console script runs them (``imagebind_lite.cli.main``):

1. ``imagebind-lite fit``: text against the pivot on the caption pairs (once);
2. per audio preset, with and without each augmentation snippet:
   - emergent: ``fit`` audio against the pivot on the speech-image pairs, the text encoder of 1.
     carried along frozen; ``evaluate`` on the test voices with the class prompts: speech -> text
     zero-shot top-1 can only come from both sides sharing the image space;
   - direct: ``fit`` audio against the text encoder of 1. as the frozen anchor
     (``pivot_modality: text``) on the same clips paired with captions of their class: the
     ceiling the emergent figure is reported against (emergent / direct);
3. the minimal hand-written baseline (speech_baseline.py) on the same set and pivot.

Presets the framework does not have are skipped with a message; so is an augmentation snippet
the framework rejects. An ``--augment`` file is a YAML/JSON mapping merged into each audio fit
config (e.g. ``{data: {init_args: {...}}}``), so it follows whatever the framework calls it.
Figures are a Markdown table on stdout and a JSON file (``--json``).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import io
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

HERE = Path(__file__).resolve().parent
log = logging.getLogger("bench_speech")


def sibling(name: str):
    """A script of this folder as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def merge(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    """``extra`` deep-merged into a copy of ``base`` (mappings merge, anything else replaces)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def fit_config(run_dir: Path, args, model: Dict[str, Any], manifests: Dict[str, str],
               val_manifests: Dict[str, str], epochs: int, batch_size: Optional[int] = None) -> Dict[str, Any]:
    """A LightningCLI fit config for manifests: what a user writes for their own data."""
    return {
        "seed_everything": args.seed,
        "trainer": {"accelerator": args.accelerator, "devices": 1, "max_epochs": epochs, "precision": "32-true",
                    "gradient_clip_val": 1.0, "log_every_n_steps": 5, "default_root_dir": str(run_dir),
                    "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False,
                    "num_sanity_val_steps": 0,
                    "callbacks": [{"class_path": "imagebind_lite.training.ExportSavedModel",
                                   "init_args": {"dirpath": str(run_dir / "model")}}]},
        "model": {"class_path": "imagebind_lite.training.AlignmentModule",
                  "init_args": {"lr": args.lr, "weight_decay": args.weight_decay, "warmup_steps": args.warmup_steps,
                                "label_positives": args.label_positives, "anchor_regression": args.anchor_regression,
                                **model}},
        "data": {"class_path": "imagebind_lite.training.PairDataModule",
                 "init_args": {"manifests": manifests, "val_manifests": val_manifests,
                               "batch_size": batch_size or args.batch_size,
                               "num_workers": 0, "cache_inputs": True, "use_pivot_cache": True,
                               "on_bad_sample": "fail", "seed": args.seed}},
    }


def cli(argv: List[str], quiet: bool = True) -> Optional[str]:
    """Run ``imagebind-lite ARGV`` in this process; None on success, else why it failed."""
    from imagebind_lite.cli import main

    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
            with contextlib.redirect_stderr(sink) if quiet else contextlib.nullcontext():
                code = main(argv)
    except SystemExit as exc:  # the CLI's way of refusing bad input (status 2, one line)
        code = exc.code
    except Exception as exc:  # noqa: BLE001 - a run the framework refuses is reported, not fatal
        return f"{type(exc).__name__}: {exc}"
    if code not in (0, None):
        return f"exit status {code}: {_reason(sink.getvalue())}"
    return None


_NOISE = ("Given value", "Subtypes", "Errors:", "Does not validate", "Expected a <class 'NoneType'>")


def _reason(output: str) -> str:
    """The part of a refused command's output that says why (not the usage text around it)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    if start is None:
        return lines[-1] if lines else "no message"
    return " ".join(line for line in lines[start:] if not any(noise in line for noise in _NOISE))


def fit(run_dir: Path, config: Dict[str, Any], quiet: bool = True) -> Optional[str]:
    """``imagebind-lite fit --config`` on ``config`` (written to run_dir/fit.yaml)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "fit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return cli(["fit", "--config", str(path)], quiet)


def evaluate(model_dir: Path, set_dir: Path, out_dir: Path, quiet: bool = True) -> Dict[str, float]:
    """``imagebind-lite evaluate`` on the test voices with the class prompts: zero-shot top-1 per modality."""
    error = cli(["evaluate", "--model", str(model_dir), "--manifest", str(set_dir / "speech_test.csv"),
                 "--prompts", str(set_dir / "prompts.json"), "--out", str(out_dir), "--no-progress"], quiet)
    if error:
        raise RuntimeError(f"evaluate {model_dir} failed: {error}")
    metrics = json.loads((out_dir / "metrics.json").read_text())
    return {m: float(r["top1"]) for m, r in (metrics.get("zero_shot") or {}).items()}


def fit_text(set_dir: Path, work: Path, args) -> Path:
    """Text against the image pivot on the caption pairs; its encoder serves every audio run."""
    run = work / "text"
    model = {"pivot": str(set_dir / "pivot" / "model"), "modalities": {"text": args.text_preset},
             "temperatures": {"text": {"init": 14.2857, "learnable": True}}}
    config = fit_config(run, args, model, {"text": str(set_dir / "captions_train.csv")},
                        {"text": str(set_dir / "captions_val.csv")}, args.text_epochs, args.text_batch_size)
    error = fit(run, config, not args.verbose)
    if error:
        raise RuntimeError(f"fitting the text encoder failed: {error}")
    return run / "model"


def pivot_check(set_dir: Path) -> Dict[str, float]:
    """How well the frozen pivot alone separates the classes: test images against the class means
    of the training images (nearest class mean). Near chance, no encoder aligned to it can do better."""
    import torch

    from imagebind_lite import load_model

    pivot = load_model(set_dir / "pivot" / "model")
    embedded = {}
    for split in ("train", "test"):
        rows = list(csv.DictReader((set_dir / f"speech_{split}.csv").read_text(encoding="utf-8").splitlines()))
        with torch.no_grad():
            embedded[split] = (pivot.embed({"vision": [set_dir / r["vision"] for r in rows]})["vision"],
                               [r["label"] for r in rows])
    (train, train_labels), (test, test_labels) = embedded["train"], embedded["test"]
    names = sorted(set(train_labels))
    means = torch.stack([train[[i for i, n in enumerate(train_labels) if n == name]].mean(0) for name in names])
    predicted = (test @ means.T).argmax(1).tolist()
    top1 = sum(names[p] == label for p, label in zip(predicted, test_labels, strict=True)) / len(test_labels)
    return {"nearest_class_mean_top1": top1, "chance": 1.0 / len(names)}


def preset_available(preset: str) -> bool:
    from imagebind_lite.registry import get_modality

    return get_modality("audio").has_preset(preset)


def audio_runs(set_dir: Path, text_model: Path, preset: str, augment: Optional[Dict], tag: str, work: Path,
               args) -> Dict[str, Any]:
    """The emergent and the direct run of one preset (and augmentation); one table row."""
    temperature = {"audio": {"init": args.audio_scale, "learnable": False}}
    runs = {
        "emergent": ({"pivot": str(set_dir / "pivot" / "model"), "modalities": {"audio": preset},
                      "temperatures": temperature, "frozen": {"text": str(text_model)}},
                     "speech_train.csv", "speech_val.csv"),
        "direct": ({"pivot": str(text_model), "pivot_modality": "text", "modalities": {"audio": preset},
                    "temperatures": temperature}, "speech_text_train.csv", "speech_text_val.csv"),
    }
    row: Dict[str, Any] = {"preset": preset, "augment": tag}
    for kind, (model, train, val) in runs.items():
        run = work / f"audio-{preset}-{tag}" / kind
        config = fit_config(run, args, model, {"audio": str(set_dir / train)}, {"audio": str(set_dir / val)},
                            args.epochs)
        error = fit(run, merge(config, augment or {}), not args.verbose)
        if error:
            row["skipped" if augment else f"{kind}_error"] = error
            print(f"[{preset}, {tag}] {kind} fit failed{': skipped' if augment else ''}: {error}", file=sys.stderr)
            if augment:  # the framework rejects this snippet: nothing to compare
                return row
            continue
        scores = evaluate(run / "model", set_dir, run / "eval", not args.verbose)
        row[kind] = scores.get("audio")
        if kind == "emergent":
            row["image_text"] = scores.get("vision")
    if row.get("emergent") is not None and row.get("direct"):
        row["ratio"] = row["emergent"] / row["direct"]
    return row


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _mean(values) -> Optional[float]:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def mean_rows(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per (preset, augmentation): figures averaged over the seeds that produced them."""
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["preset"], r["augment"]), []).append(r)
    out = []
    for (preset, augment), group in groups.items():
        skipped = [r["skipped"] for r in group if "skipped" in r]
        row = {"preset": preset, "augment": augment, "seeds": len(group)}
        row.update({"skipped": skipped[0]} if skipped else
                   {k: _mean(r.get(k) for r in group) for k in ("emergent", "direct", "ratio", "image_text")})
        out.append(row)
    return out


def table(rows: List[Dict[str, Any]], baseline: Optional[Dict[str, float]], seeds: int = 1) -> str:
    """Markdown: one row per preset and augmentation (means over ``seeds`` training seeds)."""
    over = f" (mean of {seeds} seeds)" if seeds > 1 else ""
    lines = [f"| audio preset | augmentation | emergent speech->text top-1{over} | direct speech-text top-1 "
             "| emergent / direct | image->text top-1 |", "|---|---|---|---|---|---|"]
    for r in mean_rows(rows):
        if "skipped" in r:
            why = " ".join(str(r["skipped"]).replace("|", "/").split())[:160]
            lines.append(f"| {r['preset']} | {r['augment']} | skipped: {why} | | | |")
            continue
        lines.append(f"| {r['preset']} | {r['augment']} | {_fmt(r.get('emergent'))} | {_fmt(r.get('direct'))} "
                     f"| {_fmt(r.get('ratio'))} | {_fmt(r.get('image_text'))} |")
    if baseline is not None:
        lines.append(f"| minimal baseline (CNN + bag of words) | none | {_fmt(baseline['speech_text_top1'])} "
                     f"| | | {_fmt(baseline.get('image_text_top1'))} |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default="tiny,cnn", help="comma-separated audio presets (missing ones are skipped)")
    p.add_argument("--augment", action="append", default=[], type=Path, metavar="SNIPPET",
                   help="YAML/JSON mapping merged into each audio fit config (repeatable); runs beside 'none'")
    p.add_argument("--data", type=Path, help="an existing speech set (speech_set.py OUT, with pivot/model)")
    p.add_argument("--workdir", type=Path, default=Path("runs/bench_speech"))
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--tiny", action="store_true", help="smoke sizes (well under a minute; figures meaningless)")
    p.add_argument("--no-baseline", action="store_true", help="skip the minimal hand-written baseline")
    p.add_argument("--verbose", action="store_true", help="show the commands' own output")
    s = p.add_argument_group("set (when --data is not given)")
    s.add_argument("--classes", type=int, default=16)
    s.add_argument("--clips-per-voice", type=int, default=3)
    s.add_argument("--captions", type=int, default=400)
    # A pivot that separates the classes (0.99 nearest class mean on the test images), as the
    # pretrained image encoders users bring do; 6 x 8192 gives 0.77, which then bounds every figure.
    s.add_argument("--pivot-epochs", type=int, default=12)
    s.add_argument("--pivot-train-size", type=int, default=16384)
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=30, help="audio fit epochs")
    # The text encoder has to land each class prompt on its images' centroid closely enough to tell
    # apart classes the pivot itself nearly merges (centroids at cosine 0.98): 20 epochs of batch 64
    # (~140 steps) left emergent speech -> text 0.04 under speech -> image centroids; 60 x 32 (~780) closes most of it.
    t.add_argument("--text-epochs", type=int, default=60, help="epochs of the text fit (configs/small_data/align_text.yaml)")
    t.add_argument("--text-batch-size", type=int, default=32, help="batch size of the text fit (the audio runs use --batch-size)")
    t.add_argument("--baseline-epochs", type=int, default=160, help="epochs of the minimal baseline's speech CNN (it fits its training clips by about 160)")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--weight-decay", type=float, default=0.05)
    t.add_argument("--warmup-steps", type=int, default=20)
    t.add_argument("--audio-scale", type=float, default=20.0, help="fixed logit scale of the audio pairs")
    t.add_argument("--label-positives", action=argparse.BooleanOptionalAction, default=True,
                   help="samples of one class are positives of each other (the small-data recipe's setting)")
    t.add_argument("--anchor-regression", type=float, default=4.0,
                   help="weight of the pull of each embedding onto its anchor's (the small-data recipe's setting; 0: off)")
    t.add_argument("--text-preset", default="tiny")
    t.add_argument("--accelerator", default="cpu")
    t.add_argument("--seeds", default="0", help="comma-separated training seeds; figures are averaged over them")
    s.add_argument("--set-seed", type=int, default=0, help="seed of the recordings, images and pivot")
    args = p.parse_args(argv)
    if args.tiny:
        for name, value in (("classes", 4), ("clips_per_voice", 1), ("captions", 32), ("pivot_epochs", 1),
                            ("pivot_train_size", 128), ("epochs", 1), ("text_epochs", 1), ("baseline_epochs", 2),
                            ("batch_size", 8), ("text_batch_size", 8), ("warmup_steps", 2)):
            setattr(args, name, value)
    return args


def make_set(args) -> Path:
    """The speech set and its pivot under the work directory (reused when already there)."""
    speech_set = sibling("speech_set")
    out = args.workdir / "set"
    cfg = speech_set.SpeechSetConfig(classes=args.classes, seed=args.set_seed, clips_per_voice=args.clips_per_voice,
                                     captions=args.captions)
    if args.tiny:  # fewer voices and clips: a smoke run checks the path, not the figures
        cfg.train_voices, cfg.heldout_clips_per_voice, cfg.val_captions = cfg.train_voices[:3], 1, 8
    wanted = json.loads(json.dumps(asdict(cfg)))  # as speech_set.json holds it (tuples become lists)
    if (out / "speech_set.json").exists():
        if json.loads((out / "speech_set.json").read_text())["config"] != wanted:
            raise SystemExit(f"{out} holds a speech set of other sizes: give another --workdir")
    else:
        speech_set.write_speech_set(out, cfg, log=lambda m: print(m, file=sys.stderr))
    if not (out / "pivot" / "model").is_dir():
        speech_set.pretrain_world_pivot(out, cfg, args.pivot_epochs, args.pivot_train_size,
                                        batch_size=min(128, args.pivot_train_size))
    return out


def main(argv=None) -> Dict[str, Any]:
    args = parse_args(argv)
    set_dir = args.data or make_set(args)
    if not (set_dir / "pivot" / "model").is_dir():
        raise SystemExit(f"{set_dir} has no pivot/model: run speech_set.py without --no-pivot")
    pivot = pivot_check(set_dir)
    print(f"pivot alone: nearest-class-mean top-1 on the test images {pivot['nearest_class_mean_top1']:.3f} "
          f"(chance {pivot['chance']:.3f})", file=sys.stderr)
    augments = [("none", None)] + [(path.stem, yaml.safe_load(path.read_text()) or {}) for path in args.augment]
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    for preset in [p for p in presets if not preset_available(p)]:
        print(f"audio preset {preset!r} is not in this framework: skipped", file=sys.stderr)
    presets = [p for p in presets if preset_available(p)]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, baselines = [], []
    for seed in seeds:
        run_args = argparse.Namespace(**{**vars(args), "seed": seed, "workdir": args.workdir / f"seed-{seed}"})
        text_model = fit_text(set_dir, run_args.workdir, run_args)
        for preset in presets:
            rows += [{**audio_runs(set_dir, text_model, preset, aug, tag, run_args.workdir, run_args), "seed": seed}
                     for tag, aug in augments]
        if not args.no_baseline:
            baselines.append(sibling("speech_baseline").run(set_dir, epochs=args.baseline_epochs, seed=seed))
    baseline = ({**{k: _mean(b[k] for b in baselines) for k in baselines[0]}, "per_seed": baselines}
                if baselines else None)
    print(("Small smoke sizes (--tiny): figures meaningless.\n\n" if args.tiny else "")
          + f"Pivot alone (nearest class mean on the test images): {pivot['nearest_class_mean_top1']:.3f}, "
          f"chance {pivot['chance']:.3f}\n\n" + table(rows, baseline, len(seeds)))
    result = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "set": json.loads((set_dir / "speech_set.json").read_text()), "rows": rows,
              "mean_rows": mean_rows(rows), "baseline": baseline, "pivot": pivot}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
