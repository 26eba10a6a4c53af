"""The demo's report: a Markdown summary, a bar chart of zero-shot top-1, and the console recap."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from imagebind_lite.atomic import atomic_path, atomic_write_text


def plot_zero_shot(path: Path, headline: Dict[str, Any]) -> Path:
    """Zero-shot top-1 per modality (emergent through the pivot), the direct baseline and chance."""
    from matplotlib.figure import Figure  # no pyplot: see evaluation/plots.py

    scores = headline["zero_shot_top1"]
    names = list(scores) + ["audio (direct)"]
    values = list(scores.values()) + [headline["direct_audio_to_text_zero_shot_top1"]]
    colours = ["#4C72B0" if n == "vision" else "#DD8452" for n in scores] + ["#55A868"]
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    ax.bar(names, values, color=colours)
    ax.axhline(headline["chance_top1"], color="grey", linestyle="--", label="chance")
    ax.set_ylabel("zero-shot top-1 via text prompts")
    ax.set_ylim(0, 1)
    ax.set_title("vision: trained with text through the pivot; others: emergent; green: direct audio-text")
    ax.title.set_fontsize(8)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    return path


def _headline_table(h: Dict[str, Any]) -> List[str]:
    lines = ["| measure | value |", "|---|---:|",
             f"| emergent audio->text zero-shot top-1 | {h['audio_to_text_zero_shot_top1']:.3f} |",
             f"| direct audio-text baseline top-1 | {h['direct_audio_to_text_zero_shot_top1']:.3f} |",
             f"| emergent / direct | {h['emergent_over_direct'] or 0:.3f} |",
             f"| chance | {h['chance_top1']:.3f} |"]
    lines += [f"| zero-shot top-1, {m} (via text) | {v:.3f} |" for m, v in h["zero_shot_top1"].items()]
    for name, attr in h.get("attributes", {}).items():
        scores = ", ".join(f"{m} {v:.2f}" for m, v in attr.items() if m != "chance")
        lines.append(f"| attribute {name} (chance {attr['chance']:.2f}) | {scores} |")
    return lines


def write_summary(out_dir: Path, metrics: Dict[str, Any]) -> Path:
    h = metrics["headline"]
    plot_zero_shot(out_dir / "zero_shot.png", h)
    lines = ["# imagebind-lite demo report", "",
             "Text, audio, depth, thermal and IMU were each trained **only against images** (a frozen pivot).",
             "Everything between two non-image modalities below is emergent.", "",
             *_headline_table(h), "",
             "![zero-shot](zero_shot.png)", "",
             "![emergent matrix](evaluation/emergent_matrix.png)", "",
             "![modality gap](evaluation/modality_gap_pca.png)", "",
             "![the world](world_preview.png)", "",
             "## Example queries", ""]
    for example in metrics["examples"]:
        lines.append(f"- **{example['query']}** (expect {example['expected']}): "
                     + "; ".join(f"{r['concept']} ({r['score']:.2f})" for r in example["results"]))
    lines += ["", "## Stages", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {name} | {sec:.1f} |" for name, sec in metrics["stage_seconds"].items()]
    lines += [f"| **total** | {metrics['total_seconds']:.1f} |", ""]
    second = metrics.get("second_process_seconds") or {}
    if second:
        done = "; ".join(f"the {work} in {sec:.1f} s" for work, sec in second.items())
        lines += [f"Second processes, one core each, beside the main one: {done} (the two alignments "
                  "were then combined into `model/`)." if len(second) > 1 else
                  f"A second process, one core, beside the main one: {done}.", ""]
    lines += [f"Peak memory: {metrics['peak_memory_mb']:.0f} MiB.", "",
              "Full metrics: `demo_metrics.json`, `evaluation/report.md`, `evaluation/metrics.json`; "
              "saved model: `model/` (`imagebind_lite.load_model`); index: `index/`.", "",
              f"Search it in a browser: `{serve_command(metrics)}`, then open http://127.0.0.1:8000/."]
    return atomic_write_text(out_dir / "README.md", "\n".join(lines) + "\n")


def print_summary(metrics: Dict[str, Any], example_lines: List[str]) -> None:
    h = metrics["headline"]
    print("\nEmergent alignment (audio and text never saw each other; each only saw images):")
    print(f"  audio -> text zero-shot top-1  {h['audio_to_text_zero_shot_top1']:.3f}"
          f"   direct baseline {h['direct_audio_to_text_zero_shot_top1']:.3f}"
          f"   ratio {h['emergent_over_direct'] or 0:.3f}   chance {h['chance_top1']:.3f}")
    print("  zero-shot top-1 via text: " + ", ".join(f"{m} {v:.3f}" for m, v in h["zero_shot_top1"].items()))
    for name, attr in h.get("attributes", {}).items():
        print(f"  attribute {name} (chance {attr['chance']:.2f}): "
              + ", ".join(f"{m} {v:.2f}" for m, v in attr.items() if m != "chance"))
    print("\nExample queries on the held-out index:")
    print("\n".join(example_lines))
    print(f"\nTotal {metrics['total_seconds']:.0f} s, peak memory {metrics['peak_memory_mb']:.0f} MiB.")
    print(f"Report: {Path(metrics['paths']['evaluation']).parent / 'README.md'}")
    print(f"Search it in a browser: {serve_command(metrics)}  (then open http://127.0.0.1:8000/)")


def serve_command(metrics: Dict[str, Any]) -> str:
    """The ``imagebind-lite serve`` line for the demo's model and index."""
    paths = metrics["paths"]
    return f"imagebind-lite serve --model {paths['model']} --index {paths['index']}"
