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


ALIGN_STAGE = "align text, audio, depth, thermal, imu with images only"
DIRECT_STAGE = "train the direct audio-text baseline"


def _align_and_direct(config: DemoConfig, clock: StageClock, pivot_dir: Path, world_paths: Dict[str, Path],
                      beside: bool):
    """Stages 3 and 4. On a Linux CPU run a second process aligns ``config.beside_pairs``, trains
    the direct baseline and draws the world preview while this one aligns the other
    pairs on one intra-op thread (all they use: background.py); the two alignments are combined
    into one model. Elsewhere one run aligns all five, then the baseline trains. Returns the
    model's and the baseline's directories and how long the second process took (None without one)."""
    from imagebind_lite.demo import stages

    if not beside:
        with clock.stage(ALIGN_STAGE):
            model_dir = stages.align_stage(config, pivot_dir, world_paths)
        with clock.stage(DIRECT_STAGE):
            return model_dir, stages.direct_baseline_stage(config, world_paths), None
    return _align_and_direct_beside(config, clock, pivot_dir, world_paths)


def _align_and_direct_beside(config: DemoConfig, clock: StageClock, pivot_dir: Path, world_paths: Dict[str, Path]):
    import shutil

    import torch

    from imagebind_lite.combine import combine_models
    from imagebind_lite.demo import stages
    from imagebind_lite.demo.background import BesideJob
    from imagebind_lite.threads import one_intra_op_thread

    here = tuple(m for m in ALIGNED if m not in config.beside_pairs)
    there = ", ".join(config.beside_pairs)
    job = BesideJob(f"the {there} alignment and the direct baseline" if there else "the direct baseline",
                    stages.beside_alignment, config, pivot_dir, world_paths)
    threads = torch.get_num_threads()
    note = (f"{there} and the direct baseline train" if there else "the direct baseline trains") + \
        " beside it, in a second process"
    try:
        with clock.stage(ALIGN_STAGE, note), one_intra_op_thread():
            job.start()
            part = stages.align_stage(config, pivot_dir, world_paths, [job.threads_back_when_done(threads)], here)
        with clock.stage(DIRECT_STAGE, "waiting for the second process"):
            result = job.result()
    finally:
        job.stop()
    if result["align"] is None:  # all five aligned here, straight into the model directory
        return part, result["direct"], round(job.seconds, 2)
    model_dir = combine_models([part, result["align"]], config.out_dir / "model")
    shutil.rmtree(config.out_dir / "model_parts", ignore_errors=True)
    return model_dir, result["direct"], round(job.seconds, 2)


def _write_world(config: DemoConfig, beside: bool) -> Dict[str, Path]:
    """Stage 1. With a second process the world is written there while this one imports
    Lightning and the training stages (6-7 s on 2 cores, which would otherwise come after the
    writing): the stages' module is imported here, not before."""
    from imagebind_lite.demo import world_stage
    from imagebind_lite.demo.logs import quiet_lightning

    if not beside:
        quiet_lightning()
        paths = world_stage.write_world_stage(config)
        world_stage.preview_stage(config)  # else drawn by the alignment's second process
        return paths
    from imagebind_lite.demo.background import BesideJob

    job = BesideJob("the world's writing", world_stage.write_world_stage, config)
    try:
        job.start()
        quiet_lightning()
        import imagebind_lite.training  # noqa: F401 - what stages 2-4 import, meanwhile
        from imagebind_lite.demo import stages  # noqa: F401
        from imagebind_lite.registry import list_modalities

        list_modalities()  # the modalities' own imports (torchaudio, librosa, timm)

        return job.result()
    finally:
        job.stop()


def run_demo(config: DemoConfig) -> Dict[str, Any]:
    from imagebind_lite.demo.background import can_run_beside

    config.out_dir.mkdir(parents=True, exist_ok=True)
    beside = config.beside and can_run_beside()
    clock = StageClock()
    with clock.stage("write the synthetic world to files", "Lightning loads meanwhile" if beside else ""):
        world_paths = _write_world(config, beside)
    from imagebind_lite.demo import stages
    # imported after the fork above, so their imports (timm's, 2 s) overlap the world's writing
    from imagebind_lite.demo.showcase import build_index, example_queries, format_examples
    from imagebind_lite.demo.summary import print_summary, write_summary

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
