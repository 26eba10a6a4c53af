"""Embedding many files with Lightning's predict loop and a prediction writer.

The predict loop brings what a home-made loop would have to re-invent: a distributed sampler
across GPUs and nodes, device placement, precision. Each rank's writer saves its own
embedding shards (``imagebind_lite.retrieval.shards``), which ``index build`` merges, so no
rank ever gathers the whole collection. Unreadable files are skipped and reported, or stop
the run, per ``on_bad_sample`` (the same policy as training: ``imagebind_lite.data.bad_samples``);
shards already written stay on disk either way.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset

from imagebind_lite.data.bad_samples import BadSample, check_policy, fail_on_bad, read_or_bad, split_bad
from imagebind_lite.registry import get_modality
from imagebind_lite.retrieval.shards import write_shard
from imagebind_lite.training.api import make_trainer

log = logging.getLogger(__name__)


class EmbedItemsDataset(Dataset):
    """``(id, item, source)`` rows -> ``(id, source, tensor or BadSample)`` through a modality transform."""

    def __init__(self, rows: Sequence[tuple[str, Any, str]], transform, modality: str):
        self.rows, self.transform, self.modality = list(rows), transform, modality

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        sample_id, item, source = self.rows[index]
        return sample_id, source, read_or_bad(lambda: self.transform(item), sample_id, self.modality, source)


class SkipCollate:
    """Drops unreadable samples and batches the rest with the modality's collate."""

    def __init__(self, modality: str):
        self.modality = modality

    def __call__(self, samples):
        good, skipped = split_bad(samples, lambda sample: sample[2])
        batch = get_modality(self.modality).collate([s[2] for s in good]) if good else None
        return {"ids": [s[0] for s in good], "sources": [s[1] for s in good], "inputs": batch, "skipped": skipped}


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
        return {"embeddings": embeddings, "ids": batch["ids"], "sources": batch["sources"], "skipped": batch["skipped"]}


class ShardWriter(BasePredictionWriter):
    """Writes one shard per batch and rank: ``<modality>-r<rank>-b<batch>.safetensors``."""

    def __init__(self, out_dir, modality: str):
        super().__init__(write_interval="batch")
        self.out_dir, self.modality = Path(out_dir), modality
        self.written = 0
        self.skipped: list[BadSample] = []

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
        self.skipped.extend(prediction["skipped"])
        if prediction["embeddings"] is None:
            return
        name = f"{self.modality}-r{trainer.global_rank:03d}-d{dataloader_idx}-b{batch_idx:06d}"
        write_shard(self.out_dir / name, prediction["embeddings"].float().cpu(), prediction["ids"],
                    self.modality, prediction["sources"])
        self.written += len(prediction["ids"])


def embed_to_shards(model, modality: str, rows: Sequence[tuple[str, Any, str]], out_dir, batch_size: int = 64,
                    num_workers: int = 0, on_bad_sample: str = "skip", accelerator: str = "auto",
                    devices: Any = 1, precision: str = "32-true", progress: bool = True) -> dict:
    """Embed ``rows`` of one modality with ``model`` (a MultiModalModel) into shards in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    encoder = model.encoder(modality)
    policy = check_policy(on_bad_sample)
    dataset = EmbedItemsDataset(rows, model.transform(modality), modality)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=SkipCollate(modality))
    writer = ShardWriter(out_dir, modality)
    # Lightning's precision plugin casts the module and the float inputs (bf16-true) or autocasts
    trainer = make_trainer(accelerator=accelerator, devices=devices, precision=precision, callbacks=[writer],
                           progress=progress)
    trainer.predict(EmbedModule(encoder, policy), loader, return_predictions=False)
    skipped = [bad.source for bad in writer.skipped]
    for bad in writer.skipped[:10]:
        log.warning("%s: skipped unreadable %s: %s", modality, bad.source, bad.message)
    if len(skipped) > 10:
        log.warning("%s: ... and %d more unreadable file(s)", modality, len(skipped) - 10)
    return {"modality": modality, "embedded": writer.written, "skipped": skipped, "out_dir": str(out_dir)}
