"""Embedding many files with Lightning's predict loop and a prediction writer.

The predict loop brings what a home-made loop would have to re-invent: device placement,
precision, one process per GPU and node. Rows are grouped into shards of about 64 MiB
(``shard_plan.py``); each rank embeds whole shards and its writer (``ShardWriter``) buffers
rows until a shard is complete, then hands it to a writer thread (``background.py``) that writes
it (``imagebind_lite.retrieval.shards``) while the next shard is embedded, so no rank ever
gathers the collection, the loop does not stall at shard boundaries, and a rerun skips the
shards already on disk. Unreadable files
are skipped and reported, or stop the run, per ``on_bad_sample`` (the same policy as training:
``imagebind_lite.data.bad_samples``); shards already written stay on disk either way.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Sequence

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset, Sampler

from imagebind_lite.data.bad_samples import BadSample, check_policy, fail_on_bad, read_or_bad, split_bad
from imagebind_lite.registry import get_modality
from imagebind_lite.retrieval.shards import write_shard
from imagebind_lite.training.api import make_trainer

from .background import BackgroundWriter
from .shard_buffer import BlockPool, ShardBuffer
from .shard_plan import DEFAULT_SHARD_MB, ShardPlan, finished_sidecars, make_plan, prepare_run, shard_name

log = logging.getLogger(__name__)


class EmbedItemsDataset(Dataset):
    """``(id, item, source)`` rows -> ``(row, id, source, tensor or BadSample)`` through a modality transform."""

    def __init__(self, rows: Sequence[tuple[str, Any, str]], transform, modality: str):
        self.rows, self.transform, self.modality = list(rows), transform, modality

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        sample_id, item, source = self.rows[index]
        return index, sample_id, source, read_or_bad(lambda: self.transform(item), sample_id, self.modality, source)


class SkipCollate:
    """Drops unreadable samples and batches the rest with the modality's collate."""

    def __init__(self, modality: str):
        self.modality = modality

    def __call__(self, samples):
        good, skipped = split_bad(samples, lambda sample: sample[3])
        bad_rows = [s[0] for s in samples if isinstance(s[3], BadSample)]
        batch = get_modality(self.modality).collate([s[3] for s in good]) if good else None
        return {"rows": [s[0] for s in good], "ids": [s[1] for s in good], "sources": [s[2] for s in good],
                "inputs": batch, "skipped": skipped, "skipped_rows": bad_rows}


class ShardSampler(Sampler):
    """The rows of this rank's pending shards, in order (rank read when iteration starts)."""

    def __init__(self, plan: ShardPlan, pending: Sequence[int]):
        self.plan, self.pending = plan, list(pending)

    def _mine(self) -> List[int]:
        dist = torch.distributed
        rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)
        return self.pending[rank::world]

    def __iter__(self):
        for shard in self._mine():
            yield from range(*self.plan.bounds(shard))

    def __len__(self) -> int:
        return sum(hi - lo for lo, hi in map(self.plan.bounds, self._mine()))


class EmbedModule(L.LightningModule):
    """Wraps one encoder of a saved model for ``Trainer.predict``; applies the bad-sample policy
    to each batch here, in the main process."""

    def __init__(self, encoder: torch.nn.Module, on_bad_sample: str = "skip"):
        super().__init__()
        self.encoder = encoder.eval()
        self.on_bad_sample = check_policy(on_bad_sample)

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0):
        fail_on_bad(batch["skipped"], self.on_bad_sample)
        embeddings = self.encoder(batch["inputs"]) if batch["inputs"] is not None else None
        return {**batch, "inputs": None, "embeddings": embeddings}


class ShardWriter(BasePredictionWriter):
    """Buffers this rank's rows by shard and writes each shard (``<modality>-s<index>``) once
    complete, on a background thread (``background.py``) so the predict loop goes on embedding.

    Every shard is written before ``on_predict_end`` returns; on an error or an interrupt the
    shards already complete are still written (atomically: an unfinished one never appears).
    """

    def __init__(self, out_dir, plan: ShardPlan, dim: int, queue_depth: int = 1):
        super().__init__(write_interval="batch")
        self.out_dir, self.plan, self.dim = Path(out_dir), plan, dim
        self.written = 0
        self.shards_written = 0
        self.skipped: list[BadSample] = []
        self._buffers: Dict[int, ShardBuffer] = {}
        self._blocks = BlockPool(plan.shard_rows, dim)
        self._writer = BackgroundWriter(f"{plan.modality}-shard-writer", depth=queue_depth)

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
        # Only bookkeeping here, between two batches: the copying happens when the shard is written.
        self._writer.check()  # a failed shard write stops the run at the next batch
        self.skipped.extend(prediction["skipped"])
        touched = set()
        if prediction["rows"]:
            rows = np.asarray(prediction["rows"], dtype=np.int64)
            emb = _own_memory(prediction["embeddings"].detach().to("cpu", torch.float32))
            ids, sources = prediction["ids"], prediction["sources"]
            for shard, pick in self._by_shard(rows):
                if pick is None:  # the whole batch (the usual case: shards hold many batches)
                    self._buffer(shard).add(rows, emb, ids, sources)
                else:
                    self._buffer(shard).add(rows[pick], emb[torch.from_numpy(pick)], [ids[i] for i in pick],
                                            [sources[i] for i in pick])
                touched.add(shard)
        for row, bad in zip(prediction["skipped_rows"], prediction["skipped"]):
            shard = self.plan.shard_of(row)
            self._buffer(shard).skip({"id": bad.id, "source": bad.source, "message": bad.message})
            touched.add(shard)
        for shard in sorted(touched):
            if self._buffers[shard].complete:
                self._flush(shard, trainer.global_rank)

    def _by_shard(self, rows: np.ndarray):
        """``(shard, positions in the batch)`` for each shard the batch's rows fall in; positions
        ``None`` when the whole batch belongs to one shard."""
        shards = rows // self.plan.shard_rows
        if (shards == shards[0]).all():
            return [(int(shards[0]), None)]
        return [(int(shard), np.flatnonzero(shards == shard)) for shard in np.unique(shards)]

    def _buffer(self, shard: int) -> ShardBuffer:
        if shard not in self._buffers:
            self._buffers[shard] = ShardBuffer(*self.plan.bounds(shard))
        return self._buffers[shard]

    def _flush(self, shard: int, rank: int) -> None:
        buf = self._buffers.pop(shard)
        extra = {"plan": self.plan.digest, "shard": shard, "rows": list(self.plan.bounds(shard)), "rank": rank,
                 "skipped": buf.skipped}
        path = self.out_dir / shard_name(self.plan.modality, shard)

        def write():
            block = self._blocks.take()
            try:
                emb, ids, sources = buf.finish(block)
                write_shard(path, torch.from_numpy(emb), ids, self.plan.modality, sources, extra=extra)
            finally:
                self._blocks.give_back(block)
            self.written += len(ids)
            self.shards_written += 1

        self._writer.submit(write)

    def on_predict_end(self, trainer, pl_module) -> None:
        if self._buffers:  # every row of every shard passes through here; a leftover is a bug, not bad data
            raise RuntimeError(f"shards {sorted(self._buffers)} did not receive all their rows")
        self._writer.close()  # the last shard is on disk before anyone counts shards
        trainer.strategy.barrier("shards-written")  # rank 0 then counts every rank's shards on disk

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.close(raise_errors=False)

    def close(self, raise_errors: bool = True) -> None:
        """Write the shards already complete and stop the writing thread (idempotent)."""
        self._buffers.clear()  # incomplete shards are dropped: a rerun embeds them again
        self._writer.close(raise_errors=raise_errors)


def _own_memory(emb: torch.Tensor) -> torch.Tensor:
    """``emb``, copied when it is a view into a larger tensor (say the first token of the
    encoder's [B, T, D] output): the buffer keeps a shard's batches until the shard is written,
    and a view would keep all of that larger tensor alive."""
    if emb.untyped_storage().nbytes() > emb.numel() * emb.element_size() or not emb.is_contiguous():
        return emb.clone(memory_format=torch.contiguous_format)
    return emb


def embed_to_shards(model, modality: str, rows: Sequence[tuple[str, Any, str]], out_dir, batch_size: int = 64,
                    num_workers: int = 0, on_bad_sample: str = "skip", accelerator: str = "auto",
                    devices: Any = 1, precision: str = "32-true", progress: bool = True,
                    shard_mb: float = DEFAULT_SHARD_MB, overwrite: bool = False, num_nodes: int = 1) -> dict:
    """Embed ``rows`` of one modality with ``model`` (a MultiModalModel) into shards in ``out_dir``.

    A rerun with the same inputs, model, precision and shard size skips the shards already
    written; a changed run is refused unless ``overwrite``.
    """
    out_dir = Path(out_dir)
    encoder = model.encoder(modality)
    policy = check_policy(on_bad_sample)
    plan = make_plan(modality, rows, encoder, precision, model.embed_dim, shard_mb)
    done = prepare_run(out_dir, plan, overwrite)
    pending = [s for s in range(plan.num_shards) if s not in done]
    if done:
        log.info("%s: %d of %d shard(s) already written, embedding the other %d", modality, len(done),
                 plan.num_shards, len(pending))
    writer = ShardWriter(out_dir, plan, model.embed_dim)
    if pending:
        dataset = EmbedItemsDataset(rows, model.transform(modality), modality)
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, sampler=ShardSampler(plan, pending),
                            collate_fn=SkipCollate(modality))
        # Lightning's precision plugin casts the module and the float inputs (bf16-true) or autocasts;
        # the sampler already splits shards between ranks, so Lightning must not add its own
        trainer = make_trainer(accelerator=accelerator, devices=devices, num_nodes=num_nodes, precision=precision,
                               callbacks=[writer], progress=progress, use_distributed_sampler=False)
        try:
            trainer.predict(EmbedModule(encoder, policy), loader, return_predictions=False)
        finally:
            writer.close(raise_errors=False)  # normally closed already; this covers paths Lightning does not
    finished = finished_sidecars(out_dir, plan)  # every rank's, read back from the sidecars
    # unreadable inputs, including those that finished shards of an earlier, interrupted run recorded
    skipped = [bad for shard in sorted(finished) for bad in finished[shard].get("skipped", [])]
    for bad in skipped[:10]:
        log.warning("%s: skipped unreadable %s: %s", modality, bad["source"], bad["message"])
    if len(skipped) > 10:
        log.warning("%s: ... and %d more unreadable file(s)", modality, len(skipped) - 10)
    return {"modality": modality, "embedded": sum(meta["count"] for meta in finished.values()),
            "skipped": [bad["source"] for bad in skipped], "out_dir": str(out_dir), "shards": plan.num_shards,
            "finished_shards": len(finished), "resumed_shards": len(done)}
