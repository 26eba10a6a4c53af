"""The four-stage encoder contract and the multi-modal model.

Every encoder is ``stem -> trunk -> head -> post`` (ImageBind's decomposition), carries the
``EncoderConfig`` it was built from (so ``config.data`` drives its preprocessing), and accepts
either one item per row ``[B, *sample]`` or several clips per row ``[B, S, *sample]``, whose
embeddings are averaged (ImageBind's audio clips, prompt ensembles for text).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.errors import InputError, UnknownNameError
from imagebind_lite.layers import Head, Normalize, Transformer


class Encoder(nn.Module):
    def __init__(self, config: EncoderConfig, stem: nn.Module, trunk: nn.Module, head: nn.Module, post: nn.Module):
        super().__init__()
        self.config = config
        self.stem, self.trunk, self.head, self.post = stem, trunk, head, post

    @property
    def modality(self) -> str:
        return self.config.modality

    @property
    def data_config(self) -> dict:
        return self.config.data

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():  # a bf16/fp16 encoder (load_model(dtype=...)) takes float32 inputs too
            x = x.to(next(self.parameters()).dtype)
        sample_ndim = getattr(self.stem, "input_ndim", None)
        clips = None
        if sample_ndim is not None and x.dim() == sample_ndim + 2:
            clips = x.shape[1]
            x = x.flatten(0, 1)
        elif sample_ndim is not None and x.dim() != sample_ndim + 1:
            raise InputError(
                f"expected a batch of {sample_ndim}-d samples ([B, ...] or [B, clips, ...]), got shape {tuple(x.shape)}",
                modality=self.modality,
            )
        x = self._drop_tokens_after_last_eot(x)
        embeddings = self.post(self.head(self.trunk(self.stem(x)), x))
        if clips is None:
            return embeddings
        averaged = embeddings.reshape(-1, clips, embeddings.shape[-1]).mean(dim=1)
        # Unit-norm encoders stay unit norm; scaled (ImageBind-converted) ones keep ImageBind's mean.
        return F.normalize(averaged, dim=-1) if self.config.output_scale is None else averaged


    def _drop_tokens_after_last_eot(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Cut a causal, end-of-text-pooled batch to its last EOT: the result is unchanged.

        Causal attention lets no position see later ones, so positions after every row's EOT
        token never reach the pooled output (nor its gradient). Short prompts padded to 77
        tokens then cost ~10 positions, not 77: zero-shot class prompts get several times faster.
        Only stems that take shorter sequences (``accepts_shorter_inputs``) are cut.
        """
        if not (self.config.causal and self.config.pool == "eot" and getattr(self.stem, "accepts_shorter_inputs", False)):
            return token_ids
        if token_ids.is_floating_point() or token_ids.dim() != 2 or token_ids.shape[1] == 0:
            return token_ids
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return token_ids  # a data-dependent length would be baked into a trace / recompile per length
        # The head pools at argmax (the EOT id is the largest); keep through the furthest one.
        keep = int(token_ids.argmax(dim=-1).max()) + 1
        return token_ids[:, :keep] if keep < token_ids.shape[1] else token_ids


def build_trunk(config: EncoderConfig) -> nn.Module:
    return Transformer(
        config.width, config.depth, config.num_heads, config.mlp_ratio, config.drop_path,
        causal=config.causal, extra_kv=config.extra_kv, pre_norm=config.pre_norm,
        layer_scale=config.trunk.get("layer_scale"),
    )


def build_head(config: EncoderConfig) -> nn.Module:
    width = config.trunk.get("output_width", config.width)
    return Head(width, config.embed_dim, config.pool, config.head_dropout, config.head_bias)


def build_post(config: EncoderConfig) -> nn.Module:
    return Normalize(config.output_scale, config.learnable_output_scale)


def create_encoder(name_or_config: str | EncoderConfig, **overrides: Any) -> Encoder:
    """``create_encoder("audio/tiny", embed_dim=32)`` or from a full ``EncoderConfig``."""
    from imagebind_lite.registry import get_modality, split_preset_name

    if isinstance(name_or_config, EncoderConfig):
        config = name_or_config
    else:
        modality, preset = split_preset_name(name_or_config)
        config = get_modality(modality).preset(preset)
    if overrides:
        config = config.replace(**overrides)
    return get_modality(config.modality).build_encoder(config)


class MultiModalModel(nn.Module):
    """``{modality: batch tensor}`` -> ``{modality: embeddings [B, D]}``."""

    def __init__(self, encoders: Mapping[str, nn.Module]):
        super().__init__()
        dims = {name: enc.config.embed_dim for name, enc in encoders.items()}
        if len(set(dims.values())) > 1:
            raise ValueError(f"encoders disagree on the shared dimension: {dims}")
        self.encoders = nn.ModuleDict(dict(encoders))

    @classmethod
    def from_presets(cls, presets: Mapping[str, str] | Iterable[str], **overrides: Any) -> "MultiModalModel":
        """``from_presets({"vision": "tiny", "audio": "tiny"}, embed_dim=32)``."""
        names = presets.items() if isinstance(presets, Mapping) else (p.split("/", 1) for p in presets)
        return cls({mod: create_encoder(f"{mod}/{preset}", **overrides) for mod, preset in names})

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders.keys())

    @property
    def embed_dim(self) -> int:
        return next(iter(self.encoders.values())).config.embed_dim

    def encoder(self, modality: str) -> Encoder:
        if modality not in self.encoders:
            raise UnknownNameError(f"this model has no {modality!r} encoder; it has: {', '.join(self.encoders)}")
        return self.encoders[modality]

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {modality: self.encoder(modality)(inputs) for modality, inputs in batch.items()}

    def transform(self, modality: str):
        """The picklable preprocessing transform of one modality, from its encoder's data config."""
        from imagebind_lite.registry import get_modality

        return get_modality(modality).transform(self.encoder(modality).data_config)

    def embed(self, inputs: Mapping[str, Any], batch_size: int = 32, progress: bool = False) -> dict[str, torch.Tensor]:
        """Paths, raw arrays/tensors or (text) strings per modality -> embeddings; batches internally."""
        from imagebind_lite.embedding import embed_items

        return {mod: embed_items(self, mod, items, batch_size, progress) for mod, items in inputs.items()}

    def save(self, directory) -> None:
        from imagebind_lite.saved_model import save_model

        save_model(self, directory)
