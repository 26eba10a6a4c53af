"""Which rows go into which shard of an embedding run, and whether a rerun may resume it.

Shard ``i`` of a modality holds input rows ``[i * R, (i + 1) * R)`` with ``R`` chosen so that a
shard is about ``shard_mb`` MiB of float32 embeddings: boundaries depend on the input list
only, never on how many GPUs run, so a rerun on another device count resumes the same plan.
Ranks take whole shards (rank ``r`` of ``W`` the pending shards ``r, r + W, ...``) and each
writes its own.

A shard is finished when its files exist: ``write_shard`` writes the sidecar and then renames
the tensor file into place, both atomically, so a crash leaves no shard that looks complete,
and the sidecar names the plan and shard index it belongs to. The plan itself
(``<modality>-plan.json``) records what the shards depend on: a fingerprint of the input list
(ids and sources, in order), of the encoder (config and weights), the precision and the shard
size. A rerun with the same plan skips finished shards; one whose inputs, model, precision or
shard size changed is refused (``--overwrite`` starts over), so shards of two different runs
are never merged into one index.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence, Set

import torch

from imagebind_lite.atomic import atomic_write_text
from imagebind_lite.errors import InputError
from imagebind_lite.retrieval.shards import read_sidecar

log = logging.getLogger(__name__)
DEFAULT_SHARD_MB = 64.0
PLAN_VERSION = 1


@dataclass(frozen=True)
class ShardPlan:
    modality: str
    rows: int             # input rows of the run
    shard_rows: int       # rows per shard (the last one may hold fewer)
    inputs: str           # sha256 of the input list (ids and sources, in order)
    model: str            # sha256 of the encoder's config and weights
    precision: str        # Lightning precision the embeddings were computed in
    version: int = PLAN_VERSION

    @property
    def num_shards(self) -> int:
        return -(-self.rows // self.shard_rows) if self.rows else 0

    def bounds(self, shard: int) -> tuple:
        return shard * self.shard_rows, min(self.rows, (shard + 1) * self.shard_rows)

    def shard_of(self, row: int) -> int:
        return row // self.shard_rows

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def inputs_digest(rows: Sequence[tuple]) -> str:
    # one encode of the joined lines: the same bytes as line by line, several times faster
    text = "".join([f"{sample_id}\t{source}\n" for sample_id, _, source in rows])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def encoder_digest(encoder: torch.nn.Module) -> str:
    """sha256 of an encoder's config and every tensor of its state (names, dtypes, shapes, bytes)."""
    digest = hashlib.sha256()
    config = getattr(encoder, "config", None)
    digest.update(json.dumps(config.to_dict() if hasattr(config, "to_dict") else repr(config), sort_keys=True,
                             default=str).encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        flat = tensor.detach().cpu().reshape(-1).contiguous()  # reshape: 0-dim buffers cannot be viewed as bytes
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def make_plan(modality: str, rows: Sequence[tuple], encoder, precision: str, dim: int,
              shard_mb: float = DEFAULT_SHARD_MB) -> ShardPlan:
    if not shard_mb > 0:
        raise InputError(f"the shard size must be positive, got {shard_mb} MiB", modality=modality)
    shard_rows = max(1, int(shard_mb * (1 << 20)) // (4 * dim))
    return ShardPlan(modality, len(rows), shard_rows, inputs_digest(rows), encoder_digest(encoder), precision)


def shard_name(modality: str, shard: int) -> str:
    return f"{modality}-s{shard:06d}"


def plan_path(out_dir: Path, modality: str) -> Path:
    return Path(out_dir) / f"{modality}-plan.json"


def _modality_shards(out_dir: Path, modality: str) -> List[Path]:
    # "<modality>-s..." (sized shards) and "<modality>-r..." (one shard per batch, older runs)
    return sorted(p for pattern in (f"{modality}-s*.safetensors", f"{modality}-r*.safetensors")
                  for p in out_dir.glob(pattern))


def _changes(old: Dict[str, Any], plan: ShardPlan) -> List[str]:
    new = asdict(plan)
    words = {"inputs": "the input list", "rows": "the number of inputs", "model": "the model's weights or config",
             "precision": "the precision", "shard_rows": "the shard size", "version": "the plan format"}
    return [words.get(key, key) for key in new if old.get(key) != new[key]]


def _launcher_process() -> bool:
    """True in the process that started the run (global rank 0), which alone writes or deletes
    plan files: the ranks a multi-device run launches re-run the command and must only read."""
    return os.environ.get("NODE_RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"


def clear_shards(out_dir: Path, modality: str) -> int:
    removed = 0
    for path in _modality_shards(out_dir, modality):
        path.with_suffix(".json").unlink(missing_ok=True)  # sidecar first: an orphan tensor is never read
        path.unlink(missing_ok=True)
        removed += 1
    plan_path(out_dir, modality).unlink(missing_ok=True)
    return removed


def prepare_run(out_dir, plan: ShardPlan, overwrite: bool) -> Set[int]:
    """Make ``out_dir`` ready for ``plan``; returns the shards already finished (to skip)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _launcher_process()
    if overwrite and writer:
        clear_shards(out_dir, plan.modality)
    path = plan_path(out_dir, plan.modality)
    existing = _modality_shards(out_dir, plan.modality)
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"unreadable embedding plan ({exc}); pass --overwrite to start over",
                             modality=plan.modality, source=str(path)) from exc
        changed = _changes(old, plan)
        if changed:
            raise InputError(f"{len(existing)} {plan.modality} shard(s) in this directory come from a run with "
                             f"different {', '.join(changed)}; use an empty --out or pass --overwrite to start over",
                             modality=plan.modality, source=str(out_dir))
    elif existing:
        raise InputError(f"already holds {len(existing)} {plan.modality} shard(s) from an earlier run; use an "
                         "empty --out or pass --overwrite", modality=plan.modality, source=str(out_dir))
    elif writer:
        atomic_write_text(path, json.dumps(asdict(plan), indent=1))
    return finished_shards(out_dir, plan)


def finished_sidecars(out_dir: Path, plan: ShardPlan) -> Dict[int, Dict[str, Any]]:
    """The sidecars of the finished shards of ``plan``, by shard index (each read once)."""
    done = {}
    for shard in range(plan.num_shards):
        path = Path(out_dir) / f"{shard_name(plan.modality, shard)}.safetensors"
        if not path.is_file() or not path.with_suffix(".json").is_file():
            continue
        try:
            meta = read_sidecar(path)
        except InputError:
            continue  # unreadable: embedded again and replaced
        if meta.get("plan") == plan.digest and meta.get("shard") == shard:
            done[shard] = meta
    return done


def finished_shards(out_dir: Path, plan: ShardPlan) -> Set[int]:
    return set(finished_sidecars(out_dir, plan))
