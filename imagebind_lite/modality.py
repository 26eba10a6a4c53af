"""``ModalitySpec``: everything the framework needs to know about one modality.

A modality says how to read its files, how to validate raw arrays, how to turn raw data into a
tensor (driven by the encoder's data config, so preprocessing constants live in one place), how
to batch, which encoder presets exist, and how to build each stage of its encoder: one hook per
stage (``build_stem``, ``build_trunk``, ``build_head``, ``build_post``) plus ``build_prepare``
for input handling only that modality needs. Only the stem has no default, so a new modality is
usually a reader, a ``to_tensor`` and a stem: one short file. Other trunks plug in as named
kinds (``trunk_kinds``, see ``trunk_kinds.py``) without touching the other stages.
Training-time augmentation is one more hook, ``augmenter``, with ``to_signal`` /
``signal_to_tensor`` splitting ``to_tensor`` where the input cache should keep the decoded
signal and augment after it (see ``augment.py``).
"""
from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Mapping, Optional

import numpy as np
import torch
from torch import nn

from imagebind_lite.augment import Augmenter
from imagebind_lite.config import EncoderConfig
from imagebind_lite.encoder import Encoder
from imagebind_lite.errors import ImageBindLiteError, InputError, UnknownNameError
from imagebind_lite.layers import Head, Normalize, Stem
from imagebind_lite.threads import one_intra_op_thread
from imagebind_lite.trunk_kinds import KIND_ALIASES, TRANSFORMER, TRANSFORMER_KIND, BuiltTrunk, TrunkKind


@dataclass(frozen=True)
class EncodedFile:
    """One file's bytes held in memory (a member of a tar shard): what ``ModalitySpec.load``
    takes besides paths and raw data. ``name`` gives the suffix and names it in errors."""

    data: bytes
    name: str

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()


class ModalitySpec:
    """Subclass, fill in the hooks, and decorate with ``@register_modality("name")``."""

    name: ClassVar[str] = ""                   # set by register_modality
    extensions: ClassVar[tuple[str, ...]] = ()  # lowercase file suffixes read_file accepts
    strings_are_data: ClassVar[bool] = False    # True for text: a str input is the data, not a path
    # Trunks this modality can build, by the name configs give in trunk["kind"]; extend with
    # ``{**ModalitySpec.trunk_kinds, "mine": TrunkKind(build_mine)}`` (read-only here, so one
    # modality cannot add a kind to every other one by mutating the shared default).
    trunk_kinds: ClassVar[Mapping[str, TrunkKind]] = MappingProxyType({TRANSFORMER: TRANSFORMER_KIND})
    default_trunk_kind: ClassVar[str] = TRANSFORMER  # when a config names no kind and no kind's key
    preset_aliases: ClassVar[Mapping[str, str]] = MappingProxyType({})  # retired preset name -> its successor

    # ---- data hooks a modality implements ------------------------------------------------------
    def presets(self) -> dict[str, EncoderConfig]:
        """Named encoder configs; at least a tiny CPU preset and an ImageBind-size one."""
        raise NotImplementedError

    def read_file(self, path: Path) -> Any:
        """Decode one file into the raw form ``to_tensor`` takes (array, image, string)."""
        raise NotImplementedError(f"modality {self.name!r} cannot read files")

    def read_bytes(self, data: bytes, suffix: str) -> Any:
        """Decode one file's contents held in memory, as ``read_file`` decodes a file. This
        default goes through a temporary file so every modality that reads files also reads
        shards; override it to decode from memory when the decoder can (no disk round trip)."""
        with tempfile.TemporaryDirectory(prefix="ibl-bytes-") as tmp:
            path = Path(tmp) / f"member{suffix}"
            path.write_bytes(data)
            return self.read_file(path)

    def validate(self, raw: Any, source: str) -> Any:
        """Check (and coerce) raw in-memory data; raise ``InputError`` on nonsense."""
        return raw

    def to_tensor(self, raw: Any, data: dict, source: str) -> torch.Tensor:
        """Raw data -> one model-ready sample tensor, following the data config ``data``."""
        raise NotImplementedError

    # ---- training-time augmentation (see augment.py); the defaults offer none ------------------
    def to_signal(self, raw: Any, data: dict, source: str) -> Any:
        """The deterministic decode stage of ``to_tensor`` (audio: the mono, resampled waveform),
        what the input cache keeps when the modality is augmented. Default: the raw data."""
        return raw

    def signal_to_tensor(self, signal: Any, data: dict, source: str) -> torch.Tensor:
        """The rest of ``to_tensor``: ``to_tensor(raw) == signal_to_tensor(to_signal(raw))``."""
        return self.to_tensor(signal, data, source)

    def augmenter(self, options: dict) -> Augmenter:
        """Training-time augmentation from the data config's options for this modality; a key it
        does not know raises ``InputError`` naming the modality (``augment.check_options``)."""
        if options:
            raise InputError(f"modality {self.name!r} offers no augmentation (got {', '.join(map(repr, options))})",
                             modality=self.name)
        return Augmenter(self.name)

    def collate(self, samples: list[torch.Tensor]) -> torch.Tensor:
        """Batch samples; the default stacks (samples share a shape after ``to_tensor``)."""
        return torch.stack(samples)

    def example_input(self, data: dict, rng: np.random.Generator) -> Any:
        """One random raw input (in a form ``load`` accepts) that fits the data config ``data``.

        The registry-wide tests feed it through ``transform`` and every preset's encoder, so a
        modality that implements it is checked like the built-ins.
        """
        raise NotImplementedError(f"modality {self.name!r} has no example_input")

    # ---- stage hooks: one per encoder stage, in the order they are built -------------------------
    def build_stem(self, config: EncoderConfig) -> Stem:
        """Raw tensor batch -> tokens [B, N, width]; a ``Stem`` declares the rank of one sample."""
        raise NotImplementedError

    def build_trunk(self, config: EncoderConfig) -> BuiltTrunk:
        """The trunk of the config's kind, with the config the encoder records."""
        return self.trunk_kinds[self.trunk_kind(config)].build(config)

    def build_head(self, config: EncoderConfig) -> nn.Module:
        """Norm, pick a token (``config.pool``), project to the shared dimension."""
        width = config.trunk.get("output_width", config.width)  # kinds record a width unlike ``width``
        return Head(width, config.embed_dim, config.pool, config.head_dropout, config.head_bias)

    def build_post(self, config: EncoderConfig) -> nn.Module:
        """L2 normalisation (times ImageBind's post scale in converted models)."""
        return Normalize(config.output_scale, config.learnable_output_scale)

    def build_prepare(self, config: EncoderConfig, stem: Stem) -> Optional[nn.Module]:
        """Input handling before the stem that only this modality needs (None: none)."""
        return None

    # ---- shared machinery ------------------------------------------------------------------
    def build_encoder(self, config: EncoderConfig) -> Encoder:
        """Runs the stage hooks; override those, not this."""
        kind_name = self.trunk_kind(config)
        if config.trunk.get("kind") not in (None, kind_name):  # an old name: record the current one
            config = config.replace(trunk={"kind": kind_name})
        kind = self.trunk_kinds[kind_name]
        # The modality's stem is built before the trunk, the order in which modules draw their
        # initial weights, so a seed keeps giving the same encoder. A kind's own stem passes the
        # sample on to a trunk with its own input layers: it is built after the trunk, from what
        # building the trunk learnt (the shape of the inputs its processor makes).
        stem = self.build_stem(config) if kind.stem is None else None
        built = self.build_trunk(config)
        config = built.config
        stem = stem if stem is not None else kind.stem(config)
        head = kind.head(config) if kind.head is not None else self.build_head(config)
        return Encoder(config, stem, built.module, head, self.build_post(config), self.build_prepare(config, stem))

    def trunk_kind(self, config: EncoderConfig) -> str:
        """The name of the trunk kind ``config`` asks for: ``trunk["kind"]`` (old names read as
        current ones), else the kind whose key the trunk config sets, else the default."""
        name = self._asked_kind(config.trunk)
        if name not in self.trunk_kinds:
            raise InputError(f"unknown {self.name} trunk kind {name!r}; use one of "
                             f"{', '.join(map(repr, self.trunk_kinds))}", modality=self.name)
        for other, kind in self.trunk_kinds.items():
            stray = [key for key in kind.keys if other != name and config.trunk.get(key)]
            if stray:  # e.g. "vision/tiny" given a timm model name: it would be silently ignored
                raise InputError(f"trunk option {stray[0]!r} belongs to the {other!r} trunk kind, not "
                                 f"{name!r}; {self._kind_hint(other)}", modality=self.name)
        return name

    def _asked_kind(self, trunk: dict) -> str:
        asked = trunk.get("kind")
        if asked is not None:
            return asked if asked in self.trunk_kinds else KIND_ALIASES.get(asked, asked)
        implied = [name for name, kind in self.trunk_kinds.items() if any(trunk.get(key) for key in kind.keys)]
        return implied[0] if implied else self.default_trunk_kind

    def _kind_hint(self, kind: str) -> str:
        presets = [f"'{self.name}/{p}'" for p, c in self.presets().items() if self._asked_kind(c.trunk) == kind]
        return f"use the {' or '.join(presets)} preset" if presets else f"set trunk kind {kind!r}"

    def preset(self, name: str) -> EncoderConfig:
        presets = self.presets()
        canonical = self.preset_aliases.get(name, name)
        if canonical not in presets:
            raise UnknownNameError(
                f"unknown preset {name!r} for modality {self.name!r}; available: {', '.join(sorted(presets))}"
            )
        return presets[canonical].replace(modality=self.name, preset=canonical)

    def has_preset(self, name: str) -> bool:
        return self.preset_aliases.get(name, name) in self.presets()

    def load(self, item: Any) -> Any:
        """A path (str/Path), an ``EncodedFile`` or in-memory raw data -> validated raw data,
        with clear errors."""
        if isinstance(item, EncodedFile):
            return self._load_encoded(item)
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
        self._check_suffix(path.suffix, source)
        if status.st_size == 0:
            raise InputError("file is empty", modality=self.name, source=source)
        return self.validate(self._decode(lambda: self.read_file(path), source), source)

    def _load_encoded(self, item: EncodedFile) -> Any:
        self._check_suffix(item.suffix, item.name)
        if not item.data:
            raise InputError("file is empty", modality=self.name, source=item.name)
        try:
            raw = self._decode(lambda: self.read_bytes(item.data, item.suffix), item.name)
        except InputError as exc:
            if exc.source in (None, item.name):
                raise
            # a reader's error names the temporary file read_bytes wrote; name the member instead
            text = str(exc)
            message = text.split("] ", 1)[1] if text.startswith("[") and "] " in text else text
            raise InputError(message, modality=exc.modality or self.name, source=item.name) from None
        return self.validate(raw, item.name)

    def _check_suffix(self, suffix: str, source: str) -> None:
        if self.extensions and suffix.lower() not in self.extensions:
            raise InputError(
                f"unsupported file type {suffix!r}; expected one of {', '.join(self.extensions)}",
                modality=self.name, source=source,
            )

    def _decode(self, read: Callable[[], Any], source: str) -> Any:
        try:
            return read()
        except ImageBindLiteError:
            raise
        except Exception as exc:  # decoder errors come in many types; name the file instead
            raise InputError(f"cannot decode file: {type(exc).__name__}: {exc}", modality=self.name, source=source) from exc

    def transform(self, data: dict) -> "ModalityTransform":
        """A picklable callable: path or raw item -> tensor (DataLoader workers use it)."""
        return ModalityTransform(self, dict(data))

    def augmented(self, data: dict, augmenter: Augmenter) -> "AugmentedTransform":
        """A picklable two-stage transform for training: item -> signal (cacheable), then
        signal + generator -> augmented tensor."""
        return AugmentedTransform(self, dict(data), augmenter)


def _preprocessed(spec: ModalitySpec, where: str, make: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``make()`` with its errors (and a NaN/inf result) reported as ``InputError``s naming ``where``."""
    try:
        tensor = make()
    except ImageBindLiteError:
        raise
    except Exception as exc:
        raise InputError(f"cannot preprocess: {type(exc).__name__}: {exc}", modality=spec.name, source=where) from exc
    if not torch.isfinite(tensor).all():
        raise InputError("preprocessed tensor has NaN or inf values", modality=spec.name, source=where)
    return tensor


def _where(spec: ModalitySpec, item: Any, source: str | None) -> str:
    if source:
        return source
    if isinstance(item, EncodedFile):
        return item.name
    return str(item) if isinstance(item, (str, os.PathLike)) and not spec.strings_are_data else "<in-memory>"


class ModalityTransform:
    """Picklable: holds the spec instance and the data config, nothing else."""

    def __init__(self, spec: ModalitySpec, data: dict):
        self.spec = spec
        self.data = data

    def __call__(self, item: Any, source: str | None = None) -> torch.Tensor:
        with one_intra_op_thread():  # small operations: see imagebind_lite/threads.py
            return self._preprocess(item, source)

    def _preprocess(self, item: Any, source: str | None) -> torch.Tensor:
        raw = self.spec.load(item)
        where = _where(self.spec, item, source)
        return _preprocessed(self.spec, where, lambda: self.spec.to_tensor(raw, self.data, where))

    def __repr__(self) -> str:
        return f"ModalityTransform({self.spec.name!r}, {self.data!r})"


class AugmentedTransform:
    """Picklable: spec, data config and augmenter. ``signal`` decodes (what a cache keeps),
    ``features`` augments and extracts; ``__call__`` does both."""

    def __init__(self, spec: ModalitySpec, data: dict, augmenter: Augmenter):
        self.spec, self.data, self.augmenter = spec, data, augmenter

    def signal(self, item: Any, source: str | None = None) -> Any:
        with one_intra_op_thread():  # small operations: see imagebind_lite/threads.py
            return self._signal(item, source)

    def _signal(self, item: Any, source: str | None) -> Any:
        raw = self.spec.load(item)
        where = _where(self.spec, item, source)
        try:
            return self.spec.to_signal(raw, self.data, where)
        except ImageBindLiteError:
            raise
        except Exception as exc:
            raise InputError(f"cannot decode: {type(exc).__name__}: {exc}", modality=self.spec.name, source=where) from exc

    def features(self, signal: Any, source: str, rng: np.random.Generator) -> torch.Tensor:
        def make() -> torch.Tensor:
            changed = self.augmenter.signal(signal, self.data, rng)
            return self.augmenter.tensor(self.spec.signal_to_tensor(changed, self.data, source), self.data, rng)

        with one_intra_op_thread():
            return _preprocessed(self.spec, source, make)

    def __call__(self, item: Any, rng: np.random.Generator, source: str | None = None) -> torch.Tensor:
        where = _where(self.spec, item, source)
        return self.features(self.signal(item, where), where, rng)

    def __repr__(self) -> str:
        return f"AugmentedTransform({self.spec.name!r}, {self.augmenter!r})"


TransformFn = Callable[[Any], torch.Tensor]
