"""``AlignmentModule``: bind modalities to a frozen image pivot, one contrastive loss per pair.

ImageBind's recipe (Girdhar et al. 2023) as a Lightning system: the pivot is frozen (eval
mode, no gradients, excluded from the optimiser), every aligned modality X has its own
trainable encoder, and each (image, X) pair its own loss with its own temperature: symmetric
InfoNCE, or the sigmoid loss (SigLIP) with its bias (``imagebind_lite.losses``; under DDP both
gather with gradients, so the gradients are the full global batch's). Several pairs train in
one run from a ``CombinedLoader`` (a dict of pair batches per step); the losses are summed,
which leaves each encoder's gradient equal to its own pair's gradient. A pair whose batches
give several positives per image (``owner`` in the batch) gets the multi-positive form; the
optional same-label positives and anchor regression are in objective.py.

Batches larger than memory: ``grad_cache_chunk`` embeds a pair's batch in chunks with
gradient caching (grad_cache.py): the loss and gradients are those of the whole batch.

The model (``nn.Module`` encoders) stays apart from the system (this class), as Lightning
recommends; optimisation lives in optim.py, pieces in build.py, partial fine-tuning in
finetune.py. Batches carry a cursor (epoch, cycle, position) that is checkpointed so a
resumed run continues mid-epoch with the very next batch (see data_order.py).
"""
from __future__ import annotations

import logging
import warnings
from typing import Any, Dict, List, Optional, Tuple, Union

import lightning.pytorch as pl
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from imagebind_lite.errors import InputError
from imagebind_lite.losses.infonce import at_least_float32
from imagebind_lite.training.build import (
    LossSpec, TemperatureSpec, as_loss_spec, as_temperature_spec, load_encoder, plain_hparams,
)
from imagebind_lite.training.datasets import OWNER, PIVOT, PIVOT_EMB, PIVOT_INPUT
from imagebind_lite.training.finetune import LoraSpec, add_lora, freeze_all_but_last_blocks
from imagebind_lite.training.grad_cache import encode_in_chunks
from imagebind_lite.training.metrics import retrieval_top1
from imagebind_lite.training.objective import pair_objectives
from imagebind_lite.training.optim import build_optimizer, build_scheduler, trainer_precision
from imagebind_lite.training.zero_shot_val import TEXT, ZeroShotValidation, given_text_encoder

log = logging.getLogger(__name__)

_PAIR_KEYS = {"ids", "labels", "skipped", "cursor", PIVOT_INPUT, PIVOT_EMB, OWNER}


class AlignmentModule(pl.LightningModule):
    """Frozen pivot + one trainable encoder and one temperature per aligned modality.

    Args:
        pivot: the frozen image encoder: a saved-model directory or a preset ("vision/tiny",
            random weights: tests only).
        modalities: modality -> preset name ("tiny") or saved-model directory to start from.
        temperatures: modality -> TemperatureSpec (or a float: a fixed scale); default CLIP's
            learnable 1/0.07 (InfoNCE) or SigLIP's learnable 10 (sigmoid loss).
        lr, weight_decay, betas: AdamW (no decay on norms, biases, temperatures).
        warmup_steps, total_steps, min_lr_ratio: linear warmup then cosine to
            ``min_lr_ratio * lr`` at ``total_steps`` (default: the trainer's estimate).
        unfreeze_last_n_blocks: modality -> N: train only the last N blocks + head.
        lora: modality -> LoraSpec: train LoRA adapters (needs peft) + head.
        encoder_overrides: modality -> EncoderConfig fields changed on the preset (the pivot's
            and frozen encoders' presets too, e.g. the local weights of a CLIP tower). Presets
            are built with the pivot's embed_dim unless these set one.
        pivot_modality: the frozen anchor's modality: "vision" (ImageBind), or e.g. "text"
            to train a direct baseline against a frozen text encoder.
        train_pivot: train the anchor too (no pivot cache then). Not ImageBind's recipe: it is
            the symmetric "direct baseline" (both encoders of an emergent pair trained on it).
        loss: modality -> "infonce" (default) | "sigmoid" | LossSpec (sigmoid bias settings).
        grad_cache_chunk: modality -> c: embed that pair's batches c rows at a time with
            gradient caching (memory of c, gradients of the whole batch; also chunks a
            frozen, uncached pivot's forward and validation).
        frozen: modality -> preset or saved-model directory of encoders that are exported with
            the model but never trained nor paired: ImageBind's recipe keeps the text tower of
            the pivot's CLIP model frozen beside it, so X -> text zero-shot comes for free.
        zero_shot_text: saved-model directory (or preset) of a text encoder used only to score
            validation zero-shot against class prompts when the run has no text encoder of its
            own; never trained nor exported (see zero_shot_val.py).
        label_positives: True, or {modality: True}: samples of one class (the manifest's
            ``label``) in a batch are positives of each other instead of negatives (InfoNCE
            pairs; ``losses.multi_positive``). For small labelled sets: the encoder learns the
            class an image shows, not which of its class's images it was paired with.
        anchor_regression: a weight, or {modality: weight}: adds ``weight * mean(1 - cos(x,
            image))`` to the pair's loss (``losses.anchor_regression``). The contrastive loss
            leaves X embeddings anywhere that ranks the images right, typically in a cone
            of their own; this puts them where the images are, which is what emergent
            zero-shot against a third modality needs (small data: 4, beside label_positives).
    
    """

    def __init__(
        self,
        pivot: str = "vision/tiny",
        modalities: Optional[Dict[str, str]] = None,
        temperatures: Optional[Dict[str, Union[TemperatureSpec, float]]] = None,
        lr: float = 1e-3,
        weight_decay: float = 0.05,
        warmup_steps: int = 50,
        total_steps: Optional[int] = None,
        min_lr_ratio: float = 0.01,
        betas: Tuple[float, float] = (0.9, 0.98),
        unfreeze_last_n_blocks: Optional[Dict[str, int]] = None,
        lora: Optional[Dict[str, LoraSpec]] = None,
        encoder_overrides: Optional[Dict[str, Dict[str, Any]]] = None,
        pivot_modality: str = PIVOT,
        train_pivot: bool = False,
        loss: Optional[Dict[str, Union[LossSpec, str]]] = None,
        grad_cache_chunk: Optional[Dict[str, int]] = None,
        frozen: Optional[Dict[str, str]] = None,
        zero_shot_text: Optional[str] = None,
        label_positives: Union[bool, Dict[str, bool]] = False,
        anchor_regression: Union[float, Dict[str, float]] = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters()
        plain_hparams(self)
        modalities = dict(modalities or {"audio": "tiny"})
        if pivot_modality in modalities:
            raise InputError("the pivot modality cannot also be aligned", modality=pivot_modality)
        self.pivot_modality = pivot_modality
        overrides = encoder_overrides or {}
        self.pivot = load_encoder(pivot, pivot_modality, overrides.get(pivot_modality))
        self.train_pivot = train_pivot
        if not train_pivot:
            self.pivot.requires_grad_(False).eval()
        dim = self.pivot.config.embed_dim  # presets are built at the pivot's size unless told otherwise
        self.encoders = nn.ModuleDict({m: load_encoder(spec, m, overrides.get(m), dim) for m, spec in modalities.items()})
        self.frozen = self._frozen_encoders(dict(frozen or {}), overrides, modalities)
        self._check_dims()
        self._build_losses(modalities, temperatures or {}, loss or {})
        self.objectives = pair_objectives(self.loss_specs, label_positives, anchor_regression)
        self.grad_cache_chunk = self._chunks(grad_cache_chunk or {})
        self._partial_finetuning(unfreeze_last_n_blocks or {}, lora or {})
        self._cursors: Dict[str, tuple] = {}            # last consumed batch per pair
        self.resume_cursors: Optional[Dict[str, Any]] = None  # {"pairs", "epoch_end"} from a checkpoint
        self.skipped_samples: List[Tuple[str, str]] = []  # (file, reason) over the whole run
        self._skipped_epoch: List[Tuple[str, str]] = []
        self._val: Dict[str, Dict[str, list]] = {}
        self._zero_shot = ZeroShotValidation()
        self._given_text = given_text_encoder(zero_shot_text, dim)  # a dict: not a submodule

    # ---- construction ---------------------------------------------------------------------
    def _build_losses(self, modalities, temperatures: Dict[str, Any], losses: Dict[str, Any]) -> None:
        """Per pair: its loss kind, its temperature and (sigmoid loss) its logit bias."""
        unknown = set(losses) - set(modalities)
        if unknown:
            raise InputError(f"loss settings for pairs that are not aligned: {sorted(unknown)}")
        self.loss_specs = {m: as_loss_spec(losses.get(m)) for m in modalities}
        specs = {m: as_temperature_spec(temperatures.get(m), self.loss_specs[m].default_temperature())
                 for m in modalities}
        self.temperatures = nn.ModuleDict({m: spec.build() for m, spec in specs.items()})
        self.logit_biases = nn.ModuleDict({m: spec.build_bias() for m, spec in self.loss_specs.items()
                                           if spec.kind == "sigmoid"})

    def _chunks(self, chunks: Dict[str, int]) -> Dict[str, int]:
        for modality, size in chunks.items():
            if modality not in self.encoders:
                raise InputError(f"grad_cache_chunk names {modality!r}, which is not aligned", modality=modality)
            if int(size) < 1:
                raise InputError(f"grad_cache_chunk must be >= 1, got {size}", modality=modality)
        return {m: int(size) for m, size in chunks.items()}

    def _frozen_encoders(self, frozen: Dict[str, str], overrides: Dict[str, Any], aligned: Dict[str, str]) -> nn.ModuleDict:
        clashes = sorted(set(frozen) & (set(aligned) | {self.pivot_modality}))
        if clashes:
            raise InputError(f"{clashes[0]!r} cannot be both frozen and the pivot or aligned", modality=clashes[0])
        dim = self.pivot.config.embed_dim
        return nn.ModuleDict({m: load_encoder(spec, m, overrides.get(m), dim).requires_grad_(False).eval()
                              for m, spec in frozen.items()})

    def _check_dims(self) -> None:
        dims = {m: e.config.embed_dim for m, e in {**self.encoders, **self.frozen}.items()}
        if any(d != self.pivot.config.embed_dim for d in dims.values()):
            raise InputError(f"encoders' embed_dim {dims} differ from the pivot's {self.pivot.config.embed_dim}")

    def _partial_finetuning(self, last_blocks: Dict[str, int], lora: Dict[str, LoraSpec]) -> None:
        for modality in set(last_blocks) | set(lora):
            if modality not in self.encoders:
                raise InputError(f"partial fine-tuning names {modality!r}, which is not aligned", modality=modality)
        for modality, n in last_blocks.items():
            freeze_all_but_last_blocks(self.encoders[modality], int(n))
        for modality, spec in lora.items():
            spec = spec if isinstance(spec, LoraSpec) else LoraSpec(**dict(spec))
            add_lora(self.encoders[modality], spec)

    @property
    def zero_shot_text_encoder(self) -> Optional[nn.Module]:
        return self._given_text.get(TEXT)

    @property
    def modalities(self) -> List[str]:
        return list(self.encoders.keys())

    def data_configs(self) -> Dict[str, dict]:
        """Data config per modality (pivot included): transforms are derived from these."""
        return {self.pivot_modality: self.pivot.data_config, **{m: e.data_config for m, e in self.encoders.items()}}

    def on_fit_start(self) -> None:
        # Lightning warns about modules in eval mode at fit start; the frozen pivot is on purpose.
        warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
        if not self.train_pivot and any(p.requires_grad for p in self.pivot.parameters()):
            raise InputError("the pivot must stay frozen")
        if self.train_pivot and getattr(self.trainer.datamodule, "hparams", {}).get("use_pivot_cache"):
            raise InputError("a trained pivot changes every step: set use_pivot_cache=False")

    def train(self, mode: bool = True):
        """Lightning calls ``train()`` at fit start: keep the pivot in eval mode regardless."""
        super().train(mode)
        if not self.train_pivot:
            self.pivot.eval()
        self.frozen.eval()
        return self

    # ---- forward --------------------------------------------------------------------------
    def embed_pivot(self, images: torch.Tensor, chunk: Optional[int] = None) -> torch.Tensor:
        if self.train_pivot:
            return encode_in_chunks(self.pivot, images, chunk)
        with torch.no_grad():
            return encode_in_chunks(self.pivot, images, chunk)

    def pair_embeddings(self, modality: str, pair: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor]:
        """(pivot embeddings, X embeddings), both L2-normalised, for one pair batch."""
        chunk = self.grad_cache_chunk.get(modality)
        pivot = pair[PIVOT_EMB] if PIVOT_EMB in pair else self.embed_pivot(pair[PIVOT_INPUT], chunk)
        other = encode_in_chunks(self.encoders[modality], pair[modality], chunk)
        # Converted ImageBind encoders may scale their outputs; the loss wants unit vectors, and
        # at least float32 (bf16 autocast outputs), float64 stays (exactness checks).
        return F.normalize(at_least_float32(pivot), dim=-1), F.normalize(at_least_float32(other), dim=-1)

    def pair_loss(self, modality: str, pair: Dict[str, Any]):
        """The pair's loss with details; a = X, b = image: acc_ab is X->image top-1, acc_ba image->X."""
        pivot, other = self.pair_embeddings(modality, pair)
        bias = self.logit_biases[modality].bias if modality in self.logit_biases else None
        return self.objectives[modality](other, pivot, pair, self.temperatures[modality].scale, bias)

    # ---- training -------------------------------------------------------------------------
    def split_pairs(self, batch: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
        """A CombinedLoader dict {modality: pair batch}, or one pair batch (plain DataLoader)."""
        if "ids" in batch:
            return {self.modality_of(batch): batch}
        return {m: pair for m, pair in batch.items() if pair is not None}

    def modality_of(self, pair: Dict[str, Any]) -> str:
        names = [key for key in pair if key not in _PAIR_KEYS and key in self.encoders]
        if len(names) != 1:
            raise InputError(f"cannot tell which pair this batch is: keys {sorted(pair)}")
        return names[0]

    def training_step(self, batch: Dict[str, Any], batch_idx: int):
        total = None
        for modality, pair in self.split_pairs(batch).items():
            self._note(modality, pair)
            pair = self._common_size(modality, pair)
            n = len(pair["ids"])
            if n < 2:  # contrastive loss needs negatives; an all-bad batch is skipped
                continue
            out = self.pair_loss(modality, pair)
            if self._log_now(batch_idx):
                self._log_pair(modality, out, n)
            total = out.loss if total is None else total + out.loss
        return total

    def _note(self, modality: str, pair: Dict[str, Any]) -> None:
        if "cursor" in pair:
            self._cursors[modality] = tuple(pair["cursor"])
        self._skipped_epoch.extend((bad.source, bad.message) for bad in pair.get("skipped", []))

    def _common_size(self, modality: str, pair: Dict[str, Any]) -> Dict[str, Any]:
        """Under DDP the gather needs as many images on every rank: trim to the smallest (skips
        shrink some). With several positives per image, an image's X rows go with it."""
        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return pair
        size = torch.tensor(len(pair["ids"]), device=self.device)
        dist.all_reduce(size, op=dist.ReduceOp.MIN)
        n = int(size)
        if n == len(pair["ids"]):
            return pair
        rows = (pair[OWNER] < n) if OWNER in pair else None

        def cut(key: str, value: Any) -> Any:
            if not isinstance(value, (torch.Tensor, np.ndarray)):
                return value
            return value[rows] if rows is not None and key in (modality, OWNER) else value[:n]

        return {key: cut(key, value) for key, value in pair.items()}

    def _log_now(self, batch_idx: int) -> bool:
        """Log on the steps Lightning's logger writes (every ``log_every_n_steps``) and at each
        epoch's first step: every ``self.log`` costs ~0.5 ms of bookkeeping on CPU, which
        would otherwise be a visible share of a small model's step (benchmarks/bench_training.py)."""
        every = max(1, self.trainer.log_every_n_steps)
        return batch_idx == 0 or (self.global_step + 1) % every == 0

    def _log_pair(self, modality: str, out, n: int) -> None:
        prefix = f"train/{modality}"
        self.log(f"{prefix}/loss", out.loss.detach(), batch_size=n, prog_bar=True)
        self.log(f"{prefix}/temperature", 1.0 / out.scale, batch_size=n)
        self.log(f"{prefix}/top1_{modality}_to_image", out.acc_ab, batch_size=n)
        self.log(f"{prefix}/top1_image_to_{modality}", out.acc_ba, batch_size=n)
        if modality in self.logit_biases:
            self.log(f"{prefix}/logit_bias", out.bias, batch_size=n)
        if out.anchor_cos is not None:  # near 1 when X sits on its images; low: a modality gap
            self.log(f"{prefix}/mean_cos_to_image", out.anchor_cos, batch_size=n)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        for temperature in self.temperatures.values():
            if temperature.learnable:
                temperature.clamp_()  # open_clip clamps after each step; see losses.Temperature

    def on_train_epoch_end(self) -> None:
        skipped, self._skipped_epoch = self._skipped_epoch, []
        self.skipped_samples.extend(skipped)
        self.log("train/skipped_samples", float(len(skipped)), reduce_fx="sum", sync_dist=True)
        if skipped:
            files = ", ".join(sorted({source for source, _ in skipped})[:20])
            log.warning("epoch %d: skipped %d unreadable sample(s): %s", self.current_epoch, len(skipped), files)

    # ---- validation: retrieval and zero-shot over the whole held-out set (zero_shot_val.py) -
    def validation_step(self, batch: Dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        for modality, pair in self.split_pairs(batch).items():
            if len(pair["ids"]) == 0:
                continue
            pivot, other = self.pair_embeddings(modality, pair)
            store = self._val.setdefault(modality, {"pivot": [], "other": [], "labels": []})
            store["pivot"].append(pivot)
            store["other"].append(other)
            store["labels"].append(pair["labels"].to(pivot.device))

    def on_validation_epoch_end(self) -> None:
        for modality, store in self._val.items():
            pivot = self._gather_rows(torch.cat(store["pivot"]))
            other = self._gather_rows(torch.cat(store["other"]))
            labels = self._gather_rows(torch.cat(store["labels"])[:, None])[:, 0]
            v2x, x2v = retrieval_top1(pivot, other)
            self.log(f"val/{modality}/r1_image_to_{modality}", v2x, prog_bar=True)
            self.log(f"val/{modality}/r1_{modality}_to_image", x2v)
            self.log(f"val/{modality}/chance", 1.0 / pivot.shape[0])
            if bool((labels >= 0).all()):  # class-level: the top hit shows the same concept
                v2x, x2v = retrieval_top1(pivot, other, labels)
                self.log(f"val/{modality}/class_r1_image_to_{modality}", v2x)
                self.log(f"val/{modality}/class_r1_{modality}_to_image", x2v)
                self._log_zero_shot(modality, pivot, other, labels)
        self._val = {}

    def _log_zero_shot(self, modality: str, pivot: torch.Tensor, other: torch.Tensor, labels: torch.Tensor) -> None:
        """Zero-shot top-1 against class prompts (every process holds all rows: same value)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        classes = datamodule.val_classes(modality) if hasattr(datamodule, "val_classes") else None
        for name, value in self._zero_shot.metrics(self, modality, pivot, other, labels, classes).items():
            self.log(f"val/{modality}/{name}", value, prog_bar=True)

    def _gather_rows(self, x: torch.Tensor) -> torch.Tensor:
        gathered = self.all_gather(x)
        return gathered.flatten(0, 1) if gathered.dim() == 3 else gathered

    # ---- optimisation ---------------------------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        optimizer = build_optimizer(self.named_parameters(), hp.lr, hp.weight_decay, hp.betas,
                                    precision=trainer_precision(self))
        total = hp.total_steps or int(self.trainer.estimated_stepping_batches)
        scheduler = build_scheduler(optimizer, hp.warmup_steps, total, hp.min_lr_ratio)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_callbacks(self):
        """Per-pair samples/s are always logged; a ThroughputLogger given to the Trainer is kept
        (Lightning would replace it with ours otherwise: model callbacks take priority)."""
        from imagebind_lite.training.callbacks import ThroughputLogger

        if any(isinstance(c, ThroughputLogger) for c in self.trainer.callbacks):
            return []
        return [ThroughputLogger()]

    # ---- checkpoints and export -----------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        # Whether this step ended the epoch: then every pair restarts at the next epoch.
        progress = self.trainer.fit_loop.epoch_loop.batch_progress if self._trainer is not None else None
        epoch_end = bool(progress is not None and progress.is_last_batch)
        checkpoint["data_cursors"] = {"pairs": dict(self._cursors), "epoch_end": epoch_end}

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        self.resume_cursors = checkpoint.get("data_cursors") or None
        self._cursors = dict((self.resume_cursors or {}).get("pairs", {}))

    def export_model(self, directory) -> None:
        """Write pivot + trained encoders (LoRA merged) in the saved-model format."""
        from imagebind_lite.training.export import export_alignment

        export_alignment(self, directory)
