"""``ModalitySpec``: everything the framework needs to know about one modality.

A modality says how to read its files, how to validate raw arrays, how to turn raw data into a
tensor (driven by the encoder's data config, so preprocessing constants live in one place), how
to batch, which encoder presets exist, and how to build its stem. The rest of the encoder
(transformer trunk, head, normalisation) is shared and comes from ``build_encoder``'s defaults,
so a new modality is usually a reader, a ``to_tensor`` and a stem: one short file.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.errors import ImageBindLiteError, InputError, UnknownNameError


class ModalitySpec:
    """Subclass, fill in the hooks, and decorate with ``@register_modality("name")``."""

    name: ClassVar[str] = ""                   # set by register_modality
    extensions: ClassVar[tuple[str, ...]] = ()  # lowercase file suffixes read_file accepts
    strings_are_data: ClassVar[bool] = False    # True for text: a str input is the data, not a path

    # ---- hooks a modality implements -------------------------------------------------------
    def presets(self) -> dict[str, EncoderConfig]:
        """Named encoder configs; at least a tiny CPU preset and an ImageBind-size one."""
        raise NotImplementedError

    def read_file(self, path: Path) -> Any:
        """Decode one file into the raw form ``to_tensor`` takes (array, image, string)."""
        raise NotImplementedError(f"modality {self.name!r} cannot read files")

    def validate(self, raw: Any, source: str) -> Any:
        """Check (and coerce) raw in-memory data; raise ``InputError`` on nonsense."""
        return raw

    def to_tensor(self, raw: Any, data: dict, source: str) -> torch.Tensor:
        """Raw data -> one model-ready sample tensor, following the data config ``data``."""
        raise NotImplementedError

    def collate(self, samples: list[torch.Tensor]) -> torch.Tensor:
        """Batch samples; the default stacks (samples share a shape after ``to_tensor``)."""
        return torch.stack(samples)

    def build_stem(self, config: EncoderConfig) -> nn.Module:
        """Raw tensor -> tokens [B, N, width]; must carry ``input_ndim`` (dims of one sample)."""
        raise NotImplementedError

    # ---- shared machinery ------------------------------------------------------------------
    def build_encoder(self, config: EncoderConfig) -> nn.Module:
        """stem -> trunk -> head -> post; override a stage by overriding its builder."""
        from imagebind_lite.encoder import Encoder, build_head, build_post, build_trunk

        return Encoder(config, self.build_stem(config), build_trunk(config), build_head(config), build_post(config))

    def preset(self, name: str) -> EncoderConfig:
        presets = self.presets()
        if name not in presets:
            raise UnknownNameError(
                f"unknown preset {name!r} for modality {self.name!r}; available: {', '.join(sorted(presets))}"
            )
        config = presets[name]
        return config.replace(modality=self.name, preset=name)

    def load(self, item: Any) -> Any:
        """A path (str/Path) or in-memory raw data -> validated raw data, with clear errors."""
        is_path = isinstance(item, os.PathLike) or (isinstance(item, str) and not self.strings_are_data)
        source = str(item) if is_path else f"<in-memory {type(item).__name__}>"
        if not is_path:
            return self.validate(item, source)
        path = Path(item)
        try:
            status = path.stat()  # one system call answers "exists", "is a file" and "is empty"
        except OSError:
            status = None
        if status is None or not stat.S_ISREG(status.st_mode):
            raise InputError("file not found", modality=self.name, source=source)
        if self.extensions and path.suffix.lower() not in self.extensions:
            raise InputError(
                f"unsupported file type {path.suffix!r}; expected one of {', '.join(self.extensions)}",
                modality=self.name, source=source,
            )
        if status.st_size == 0:
            raise InputError("file is empty", modality=self.name, source=source)
        try:
            raw = self.read_file(path)
        except ImageBindLiteError:
            raise
        except Exception as exc:  # decoder errors come in many types; name the file instead
            raise InputError(f"cannot decode file: {type(exc).__name__}: {exc}", modality=self.name, source=source) from exc
        return self.validate(raw, source)

    @staticmethod
    def trunk_kind(config: EncoderConfig, builtin: str, external: str, external_key: str) -> str:
        """Which trunk a config asks for: our ``builtin`` transformer or an ``external`` one
        (timm, Hugging Face) named by ``trunk[external_key]``; a bare key implies external."""
        modality = config.modality
        kind = config.trunk.get("kind") or (external if config.trunk.get(external_key) else builtin)
        if kind not in (builtin, external):
            raise InputError(f"unknown {modality} trunk kind {kind!r}; use {builtin!r} or {external!r}",
                             modality=modality)
        if kind == builtin and config.trunk.get(external_key):  # e.g. "vision/tiny" + a timm name
            raise InputError(f"a {external_key} was given to a {builtin!r} preset; use the "
                             f"'{modality}/{external}' preset", modality=modality)
        return kind

    def transform(self, data: dict) -> "ModalityTransform":
        """A picklable callable: path or raw item -> tensor (DataLoader workers use it)."""
        return ModalityTransform(self, dict(data))


class ModalityTransform:
    """Picklable: holds the spec instance and the data config, nothing else."""

    def __init__(self, spec: ModalitySpec, data: dict):
        self.spec = spec
        self.data = data

    def __call__(self, item: Any, source: str | None = None) -> torch.Tensor:
        raw = self.spec.load(item)
        where = source or (str(item) if isinstance(item, (str, os.PathLike)) and not self.spec.strings_are_data else "<in-memory>")
        try:
            tensor = self.spec.to_tensor(raw, self.data, where)
        except ImageBindLiteError:
            raise
        except Exception as exc:
            raise InputError(f"cannot preprocess: {type(exc).__name__}: {exc}", modality=self.spec.name, source=where) from exc
        if not torch.isfinite(tensor).all():
            raise InputError("preprocessed tensor has NaN or inf values", modality=self.spec.name, source=where)
        return tensor

    def __repr__(self) -> str:
        return f"ModalityTransform({self.spec.name!r}, {self.data!r})"


TransformFn = Callable[[Any], torch.Tensor]
