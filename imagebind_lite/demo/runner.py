"""``run_demo``: the whole idea end to end, one clear line per stage, a report directory at the end."""
from __future__ import annotations

import json
import logging
import resource
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator

from imagebind_lite.atomic import atomic_write_text
from imagebind_lite.demo.config import ALIGNED, DemoConfig
from imagebind_lite.evaluation.results import EvaluationResult

log = logging.getLogger(__name__)
STAGES = 7


def peak_memory_mb() -> float:
    """Peak resident memory of this process and its finished children (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


class StageClock:
    def __init__(self):
        self.seconds: Dict[str, float] = {}
        self.start = time.perf_counter()
        self.number = 0

    @contextmanager
    def stage(self, name: str, note: str = "") -> Iterator[None]:
        self.number += 1
        print(f"[{self.number}/{STAGES}] {name} ...{f' ({note})' if note else ''}", flush=True)
        began = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - began, 2)
        print(f"[{self.number}/{STAGES}] {name}: done in {self.seconds[name]:.1f} s", flush=True)

    @property
    def total(self) -> float:
        return round(time.perf_counter() - self.start, 2)


def _evaluate(config: DemoConfig, model_dir: Path, direct_dir: Path, world_paths: Dict[str, Path]):
    from imagebind_lite import load_model
    from imagebind_lite.data.prompts import load_attribute_prompts, load_class_prompts
    from imagebind_lite.inference.evaluate import evaluate_model

    prompts = load_class_prompts(world_paths["world"])
    attributes = load_attribute_prompts(world_paths["world"])
    direct = evaluate_model(load_model(direct_dir), world_paths["eval"], prompts,
                            out_dir=config.out_dir / "direct_baseline_evaluation",
                            trained_pairs=[("audio", "text")], attribute_prompts=attributes,
                            progress=config.progress)
    model = load_model(model_dir)
    results = evaluate_model(model, world_paths["eval"], prompts, out_dir=config.out_dir / "evaluation",
                             trained_pairs=[("vision", m) for m in ALIGNED], direct_scores=direct.matrix.scores(),
                             attribute_prompts=attributes, progress=config.progress)
    return model, results, direct


def _r1(result: EvaluationResult) -> Dict[str, float]:
    return {f"{c.query}->{c.gallery}": c.score for c in result.matrix.cells if c.metric == "R@1"}


def headline(results: EvaluationResult, direct: EvaluationResult) -> Dict[str, Any]:
    """The numbers the demo is about: emergent audio<->text against the direct baseline."""
    emergent_top1, direct_top1 = results.zero_shot["audio"].top1, direct.zero_shot["audio"].top1
    out = {
        "chance_top1": 1.0 / len(results.classes),
        "audio_to_text_zero_shot_top1": emergent_top1,
        "direct_audio_to_text_zero_shot_top1": direct_top1,
        "emergent_over_direct": emergent_top1 / direct_top1 if direct_top1 else None,
        "zero_shot_top1": {m: r.top1 for m, r in results.zero_shot.items()},
        "retrieval_R@1": _r1(results),
        "direct_retrieval_R@1": _r1(direct),
    }
    if results.attributes is not None:
        out["attributes"] = {name: {"chance": a.chance, **{m: r.top1 for m, r in a.zero_shot.items()}}
                             for name, a in results.attributes.items()}
        # Tempo is heard and felt, never seen: emergence through images cannot carry it, direct training can.
        for name, a in (direct.attributes or {}).items():
            out["attributes"][name]["audio (direct)"] = a.zero_shot["audio"].top1
    return out


def _align_and_direct(config: DemoConfig, clock: StageClock, pivot_dir: Path, world_paths: Dict[str, Path],
                      beside: bool):
    """Stages 3 and 4. On a Linux CPU run the direct baseline (and the world preview) train in a
    second process while the alignment runs on one intra-op thread, which is all it uses
    (background.py); elsewhere the two stages run one after the other. Returns the alignment's
    and the baseline's model directories and how long the job beside the alignment took (None
    when there was none)."""
    import torch

    from imagebind_lite.demo import stages
    from imagebind_lite.demo.background import BesideJob
    from imagebind_lite.threads import one_intra_op_thread

    align = "align text, audio, depth, thermal, imu with images only"
    if not beside:
        with clock.stage(align):
            model_dir = stages.align_stage(config, pivot_dir, world_paths)
        with clock.stage("train the direct audio-text baseline"):
            return model_dir, stages.direct_baseline_stage(config, world_paths), None
    threads = torch.get_num_threads()
    job = BesideJob("the direct audio-text baseline", stages.beside_alignment, config, world_paths)
    try:
        with clock.stage(align, "the direct baseline trains beside it, in a second process"), one_intra_op_thread():
            model_dir = stages.align_stage(config, pivot_dir, world_paths, [job.alongside_training(threads)])
        with clock.stage("train the direct audio-text baseline", "waiting for it to finish beside the alignment"):
            direct_dir = job.result()["direct"]
    finally:
        job.stop()
    return model_dir, direct_dir, round(job.seconds, 2)


def run_demo(config: DemoConfig) -> Dict[str, Any]:
    from imagebind_lite.demo import stages
    from imagebind_lite.demo.background import can_run_beside
    from imagebind_lite.demo.showcase import build_index, example_queries, format_examples
    from imagebind_lite.demo.summary import print_summary, write_summary

    config.out_dir.mkdir(parents=True, exist_ok=True)
    beside = config.beside and can_run_beside()
    clock = StageClock()
    with clock.stage("write the synthetic world to files"):
        world_paths = stages.write_world_stage(config)
        if not beside:  # else it is drawn beside the alignment
            stages.preview_stage(config)
    pivot_stage = ("load the given pivot weights and freeze them" if config.pivot_weights
                   else "pretrain the pivot image encoder and freeze it")
    with clock.stage(pivot_stage):
        pivot_dir = config.pivot_weights or stages.pretrain_pivot_stage(config, world_paths)
    model_dir, direct_dir, beside_seconds = _align_and_direct(config, clock, Path(pivot_dir), world_paths, beside)
    with clock.stage("evaluate emergent alignment"):
        model, results, direct = _evaluate(config, model_dir, direct_dir, world_paths)
    with clock.stage("index the held-out set and query it"):
        index = build_index(results.embeddings, world_paths["eval"], config.out_dir / "index")
        examples = example_queries(model, index, world_paths["eval"], results.classes, k=config.examples)
    with clock.stage("write the report"):
        metrics = {"headline": headline(results, direct), "stage_seconds": clock.seconds,
                   "beside_alignment_seconds": beside_seconds, "total_seconds": clock.total,
                   "peak_memory_mb": round(peak_memory_mb(), 1),
                   "config": config.to_dict(), "examples": examples,
                   "paths": {"model": str(model_dir), "index": str(config.out_dir / "index"),
                             "evaluation": str(config.out_dir / "evaluation")}}
        atomic_write_text(config.out_dir / "demo_metrics.json", json.dumps(metrics, indent=2))
        write_summary(config.out_dir, metrics)
    print_summary(metrics, format_examples(examples))
    return metrics
