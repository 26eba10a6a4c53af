"""Pivot pretraining on the synthetic world: the demo's stand-in for CLIP/ImageNet weights.

No image model can be downloaded here, so the demo first trains the tiny vision encoder on
world images (the images of the image-text collection, as CLIP learned from image-text data),
then freezes it as the pivot. Objective: a cosine classifier over the concepts (normalised
softmax, Wang et al. 2018 "NormFace"/CosFace without margin) on the L2-normalised embedding,
plus a linear regression of visible instance attributes (size, position, shade) from the same
embedding, so that the space keeps the instance detail later needed to retrieve one instance
among many of its class. ``export_model`` writes a saved model with the vision encoder alone.
"""
from __future__ import annotations

from typing import List, Optional

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from imagebind_lite.data.world.config import WorldConfig
from imagebind_lite.model import MultiModalModel
from imagebind_lite.registry import get_modality
from imagebind_lite.saved_model import save_model
from imagebind_lite.training.build import load_encoder, plain_hparams
from imagebind_lite.training.cache_pass import cache_worker_count, load_all
from imagebind_lite.training.datasets import PIVOT
from imagebind_lite.training.optim import build_optimizer, build_scheduler, trainer_precision


class PivotPretrainModule(pl.LightningModule):
    def __init__(self, encoder: str = "vision/tiny", num_classes: int = 16,
                 attributes: Optional[List[str]] = None, attribute_weight: float = 1.0,
                 logit_scale: float = 16.0, lr: float = 2e-3, weight_decay: float = 0.05,
                 warmup_steps: int = 50, total_steps: Optional[int] = None):
        """
        Args:
            encoder: vision preset (or saved-model directory) to train.
            num_classes: concepts in the world (``WorldConfig.num_concepts``).
            attributes: visible world attributes regressed from the embedding.
            attribute_weight: weight of the attribute regression loss.
            logit_scale: fixed scale of the cosine classifier.
            lr, weight_decay, warmup_steps, total_steps: AdamW + warmup/cosine (optim.py).
        """
        super().__init__()
        self.save_hyperparameters()
        plain_hparams(self)
        self.encoder = load_encoder(encoder, PIVOT)
        dim = self.encoder.config.embed_dim
        self.attribute_names = list(attributes if attributes is not None else ["size", "x", "y", "shade"])
        self.prototypes = nn.Parameter(torch.randn(num_classes, dim) * 0.02)
        self.attribute_head = nn.Linear(dim, len(self.attribute_names)) if self.attribute_names else None

    def data_configs(self):
        return {PIVOT: self.encoder.data_config}

    def _losses(self, batch):
        embeddings = self.encoder(batch[PIVOT])
        logits = self.hparams.logit_scale * embeddings @ F.normalize(self.prototypes, dim=-1).T
        loss = F.cross_entropy(logits, batch["labels"])
        accuracy = (logits.argmax(dim=1) == batch["labels"]).float().mean()
        if self.attribute_head is not None:
            regression = F.mse_loss(self.attribute_head(embeddings), batch["attributes"])
            loss = loss + self.hparams.attribute_weight * regression
        return loss, accuracy

    def training_step(self, batch, batch_idx: int):
        loss, accuracy = self._losses(batch)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/top1", accuracy)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, accuracy = self._losses(batch)
        self.log("val/loss", loss)
        self.log("val/top1", accuracy, prog_bar=True)

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = build_optimizer(self.named_parameters(), hp.lr, hp.weight_decay, precision=trainer_precision(self))
        total = hp.total_steps or int(self.trainer.estimated_stepping_batches)
        scheduler = build_scheduler(optimizer, hp.warmup_steps, total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def export_model(self, directory) -> None:
        """The trained vision encoder alone, in the saved-model format (the demo's pivot)."""
        save_model(MultiModalModel({PIVOT: self.encoder}), directory)


class _WorldImages(Dataset):
    def __init__(self, world: WorldConfig, collection: str, size: int, start: int, transform, attributes):
        from imagebind_lite.data.world import WorldDataset

        self.samples = WorldDataset(world, collection, size, start=start)
        self.transform, self.attributes = transform, list(attributes)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        sample = self.samples[index]
        attrs = torch.tensor([float(sample["attributes"][a]) for a in self.attributes], dtype=torch.float32)
        return self.transform(sample[PIVOT], sample["id"]), sample["label"], attrs


class _ManifestImages(Dataset):
    """Labelled images from the ``vision`` column of manifests (the world's written files), with the
    visible attributes read from columns of the same names."""

    def __init__(self, rows, transform, attributes):
        self.rows, self.transform, self.attributes = rows, transform, list(attributes)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        manifest, row = self.rows[index]
        values = manifest.rows[row]
        attrs = torch.tensor([float(values[a]) for a in self.attributes], dtype=torch.float32)
        path = manifest.item(row, PIVOT)
        return self.transform(path, str(path)), manifest.label(row), attrs


def _manifest_rows(paths, attributes, seed: int):
    """Every (manifest, row) of ``paths``, in a seeded order, checked for label/attribute columns."""
    from imagebind_lite.data.manifest import read_manifest

    rows = []
    for path in paths:
        manifest = read_manifest(path, [PIVOT])
        manifest.require(["label", *attributes])
        rows += [(manifest, i) for i in range(len(manifest))]
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed)).tolist()
    return [rows[i] for i in order]


class _Materialised(Dataset):
    """Every item of a deterministic dataset computed once and kept in memory: later epochs
    skip decoding and resizing (10k tiny images are ~120 MB as float32 tensors)."""

    def __init__(self, source: Dataset, num_workers: int):
        self.items = load_all(source, num_workers, batch_size=256)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]


def _collate(items):
    images, labels, attrs = zip(*items)
    return {PIVOT: torch.stack(images), "labels": torch.tensor(labels), "attributes": torch.stack(attrs)}


class PivotDataModule(pl.LightningDataModule):
    """Labelled images with visible attributes: generated from one world collection, or read
    from the ``vision`` column of manifests (``manifests``: the world written to files)."""

    def __init__(self, world: Optional[WorldConfig] = None, collection: str = "text", train_size: int = 4096,
                 val_size: int = 512, batch_size: int = 128, num_workers: int = 0,
                 manifests: Optional[List[str]] = None, seed: int = 0, cache_images: bool = False,
                 cache_workers: Optional[int] = None):
        """``cache_images``: decode and resize the training images once and keep the tensors in
        memory (the transform is deterministic, so every epoch sees the same tensors anyway);
        ``cache_workers``: DataLoader workers for that one pass (None: ``num_workers``)."""
        super().__init__()
        self.save_hyperparameters()
        self.world = world or WorldConfig()
        self.manifests = list(manifests or [])

    def setup(self, stage: Optional[str] = None) -> None:
        module = self.trainer.lightning_module
        transform = get_modality(PIVOT).transform(module.data_configs()[PIVOT])
        hp, attrs = self.hparams, module.attribute_names
        if self.manifests:
            rows = _manifest_rows(self.manifests, attrs, hp.seed)
            train_rows = rows[: min(hp.train_size, len(rows) - hp.val_size)]
            self.train_set = _ManifestImages(train_rows, transform, attrs)
            self.val_set = _ManifestImages(rows[len(train_rows): len(train_rows) + hp.val_size], transform, attrs)
        else:
            self.train_set = _WorldImages(self.world, hp.collection, hp.train_size, 0, transform, attrs)
            # Held-out images: the same collection past the training range (never trained on).
            self.val_set = _WorldImages(self.world, hp.collection, hp.val_size, hp.train_size, transform, attrs)
        if hp.cache_images:
            self.train_set = _Materialised(self.train_set, cache_worker_count(hp.cache_workers, hp.num_workers))

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True, drop_last=True,
                          num_workers=self.hparams.num_workers, collate_fn=_collate,
                          persistent_workers=self.hparams.num_workers > 0)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size, num_workers=self.hparams.num_workers,
                          collate_fn=_collate)
