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
DIRECT_JOB = "direct baseline"


def _pivot(config: DemoConfig, clock: StageClock, world_paths: Dict[str, Path], beside: bool):
    """Stage 2. On a Linux CPU run a second process trains the direct baseline meanwhile (it needs
    only the written world), and the pivot trains on one intra-op thread until that process is
    done (background.py). Returns the pivot's directory and the second process's job (None
    without one)."""
    from imagebind_lite.demo import stages

    name = ("load the given pivot weights and freeze them" if config.pivot_weights
            else "pretrain the pivot image encoder and freeze it")
    if not beside:
        with clock.stage(name):
            return Path(config.pivot_weights or stages.pretrain_pivot_stage(config, world_paths)), None
    import torch

    from imagebind_lite.demo.background import BesideJob, threads_back_when_done
    from imagebind_lite.threads import one_intra_op_thread

    job = BesideJob(f"the {DIRECT_JOB}", stages.beside_direct_baseline, config, world_paths)
    threads = torch.get_num_threads()
    try:
        with clock.stage(name, "the direct baseline trains beside it, in a second process"), one_intra_op_thread():
            job.start()
            pivot = config.pivot_weights or stages.pretrain_pivot_stage(
                config, world_paths, [threads_back_when_done(threads, job)])
    except BaseException:
        job.stop()
        raise
    return Path(pivot), job


def _align_and_direct(config: DemoConfig, clock: StageClock, pivot_dir: Path, world_paths: Dict[str, Path],
                      direct_job=None):
    """Stages 3 and 4. With ``direct_job`` (the baseline already training in a second process,
    see ``_pivot``) a further process aligns ``config.beside_pairs`` while this one aligns the
    other pairs on one intra-op thread, and the two alignments are combined into one model.
    Without, one run aligns all five, then the baseline trains. Returns the model's and the
    baseline's directories and how long each second process took ({} without any)."""
    from imagebind_lite.demo import stages

    if direct_job is None:
        with clock.stage(ALIGN_STAGE):
            model_dir = stages.align_stage(config, pivot_dir, world_paths)
        with clock.stage(DIRECT_STAGE):
            return model_dir, stages.direct_baseline_stage(config, world_paths), {}
    try:
        model_dir, seconds = _align_beside(config, clock, pivot_dir, world_paths, direct_job)
        with clock.stage(DIRECT_STAGE, "trained beside the pivot; waiting for it if need be"):
            direct_dir = direct_job.result()
    finally:
        direct_job.stop()
    return model_dir, direct_dir, {DIRECT_JOB: round(direct_job.seconds, 2), **seconds}


def _align_beside(config: DemoConfig, clock: StageClock, pivot_dir: Path, world_paths: Dict[str, Path], direct_job):
    import shutil

    import torch

    from imagebind_lite.combine import combine_models
    from imagebind_lite.demo import stages
    from imagebind_lite.demo.background import BesideJob, threads_back_when_done
    from imagebind_lite.threads import one_intra_op_thread

    here = tuple(m for m in ALIGNED if m not in config.beside_pairs)
    there = ", ".join(config.beside_pairs)
    job = BesideJob(f"the {there} alignment", stages.beside_alignment, config, pivot_dir, world_paths) if there else None
    threads = torch.get_num_threads()
    try:
        with clock.stage(ALIGN_STAGE, f"{there} in a second process" if there else ""), one_intra_op_thread():
            if job is not None:
                job.start()
            back = threads_back_when_done(threads, job, direct_job)
            part = stages.align_stage(config, pivot_dir, world_paths, [back], here)
            if job is None:  # all five aligned here, straight into the model directory
                return part, {}
            model_dir = combine_models([part, job.result()], config.out_dir / "model")
    finally:
        if job is not None:
            job.stop()
    shutil.rmtree(config.out_dir / "model_parts", ignore_errors=True)
    return model_dir, {f"{there} alignment and world preview": round(job.seconds, 2)}


def _write_world(config: DemoConfig, beside: bool) -> Dict[str, Path]:
    """Stage 1. With a second process the world is written there while this one imports
    Lightning and the training stages (6-7 s on 2 cores, which would otherwise come after the
    writing): the stages' module is imported here, not before."""
    from imagebind_lite.demo import world_stage
    from imagebind_lite.demo.logs import quiet_lightning

    if not beside:
        quiet_lightning()
        paths = world_stage.write_world_stage(config)
        world_stage.preview_stage(config)  # else a second process draws it (stages.py)
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
    # imported after the fork above, so their imports (timm's, 2 s) overlap the world's writing
    from imagebind_lite.demo.showcase import build_index, example_queries, format_examples
    from imagebind_lite.demo.summary import print_summary, write_summary

    pivot_dir, direct_job = _pivot(config, clock, world_paths, beside)
    model_dir, direct_dir, second_process = _align_and_direct(config, clock, pivot_dir, world_paths, direct_job)
    with clock.stage("evaluate emergent alignment"):
        model, results, direct = _evaluate(config, model_dir, direct_dir, world_paths)
    with clock.stage("index the held-out set and query it"):
        index = build_index(results.embeddings, world_paths["eval"], config.out_dir / "index")
        examples = example_queries(model, index, world_paths["eval"], results.classes, k=config.examples)
    with clock.stage("write the report"):
        metrics = {"headline": headline(results, direct), "stage_seconds": clock.seconds,
                   "second_process_seconds": second_process, "total_seconds": clock.total,
                   "peak_memory_mb": round(peak_memory_mb(), 1),
                   "config": config.to_dict(), "examples": examples,
                   "paths": {"model": str(model_dir), "index": str(config.out_dir / "index"),
                             "evaluation": str(config.out_dir / "evaluation")}}
        atomic_write_text(config.out_dir / "demo_metrics.json", json.dumps(metrics, indent=2))
        write_summary(config.out_dir, metrics)
    print_summary(metrics, format_examples(examples))
    return metrics
