"""One tower of a Hugging Face dual encoder (CLIP, SigLIP, SigLIP2, CLAP, ...) as a trunk.

A model directory (``save_pretrained`` layout) is loaded with ``local_files_only=True``: no
network, ever. A tower is the model's own feature method, ``get_image_features`` /
``get_text_features`` / ``get_audio_features``, which already ends in the projection to the
shared space, so no head is added after it. The other towers of the model are dropped (they
would double the weights of every saved encoder). Its input is what the directory's own
processor returns (image processor, tokenizer, feature extractor), packed into one tensor per
sample (``packing.py``) and passed back as keyword arguments: ``model.get_image_features(**inputs)``
exactly as the library's documentation calls it.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
import torch
from torch import nn

from imagebind_lite.errors import CheckpointError
from imagebind_lite.towers.files import directory_version
from imagebind_lite.towers.packing import Layout, unpack

HF_PREPROCESS = "hf"
CONFIG_FILE = "config.json"
# Files a processor is read from: with none of them, transformers would quietly build a default
# one from config.json (a tokenizer with an empty vocabulary), a silently wrong model.
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "spiece.model",
                   "tokenizer.model", "sentencepiece.bpe.model")
# The processor of each tower: transformers' loader, what it is called in errors, its files.
PROCESSORS = {
    "image": ("AutoImageProcessor", "image processor (preprocessor_config.json)", PROCESSOR_FILES),
    "text": ("AutoTokenizer", "tokenizer", TOKENIZER_FILES),
    "audio": ("AutoFeatureExtractor", "feature extractor (preprocessor_config.json)", PROCESSOR_FILES),
}
# How dual encoders name a tower's modules: CLIP's image tower is vision_model + visual_projection.
TOWER_PREFIXES = {"image": ("vision_", "visual_", "image_")}


def feature_method(tower: str) -> str:
    """``"image"`` -> ``"get_image_features"``: the projected features of one tower."""
    return f"get_{tower}_features"


def from_hub(repo_id: str) -> Path:
    """The local snapshot of a hub repository (downloaded once into the Hugging Face cache): only
    when a config asks for the hub, never by default."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id))
    except Exception as exc:
        raise CheckpointError(f"cannot fetch {repo_id!r} from the Hugging Face hub: {type(exc).__name__}: {exc}") from exc


def loading_options() -> dict:
    """Keyword arguments for every ``from_pretrained`` of a model: local files only, and no hub
    kernels. Since transformers 5.25, with the ``kernels`` package installed, loading swaps
    layers for kernels fetched from the Hugging Face hub by default: network at load time,
    computations other than the weights' own, and an error on the meta device that saved
    models are loaded onto. Older versions accept the argument (default off) or, before 5,
    never had kernels."""
    import transformers

    options = {"local_files_only": True}
    if int(transformers.__version__.split(".")[0]) >= 5:
        options["use_kernels"] = False
    return options


def load_model(directory: Path) -> nn.Module:
    """``AutoModel`` with its weights from a local ``save_pretrained`` directory."""
    from transformers import AutoModel

    if not (directory / CONFIG_FILE).is_file():
        raise CheckpointError(f"{directory} is not a Hugging Face model directory: {CONFIG_FILE} is missing")
    try:
        return AutoModel.from_pretrained(str(directory), **loading_options())
    except Exception as exc:  # unknown architectures, weights that do not fit the config, unreadable files
        raise CheckpointError(f"cannot load a Hugging Face model from {directory}: {type(exc).__name__}: {exc}") from exc


def model_from_files(files: Path) -> nn.Module:
    """The same architecture from its ``config.json`` alone, weights uninitialised (a saved
    model's state dict fills them)."""
    from transformers import AutoConfig, AutoModel

    try:
        return AutoModel.from_config(AutoConfig.from_pretrained(str(files), local_files_only=True))
    except Exception as exc:
        raise CheckpointError(f"cannot rebuild a Hugging Face model from {files / CONFIG_FILE}: {exc}") from exc


def load_pretrained(directory: Path, tower: str) -> nn.Module:
    """One tower of the model in a local directory, with its weights."""
    return only_tower(require_tower(load_model(directory), tower, directory), tower)


def from_files(files: Path, tower: str) -> nn.Module:
    """One tower rebuilt from a files directory, weights uninitialised."""
    return only_tower(require_tower(model_from_files(files), tower, files), tower)


def require_tower(model: nn.Module, tower: str, where: Path) -> nn.Module:
    if not callable(getattr(model, feature_method(tower), None)):
        raise CheckpointError(
            f"{where / CONFIG_FILE}: {type(model).__name__} has no {feature_method(tower)}, so it has no {tower} "
            f"projection into a shared space (use a CLIP-family model: CLIPModel, SiglipModel, Siglip2Model, ...)")
    return model


def only_tower(model: nn.Module, tower: str) -> nn.Module:
    """Drop the other towers (``text_model``, ``visual_projection``, ...) and the logit scale/bias:
    a tower's encoder carries its own weights only. Models that do not name their towers
    ``<tower>_model`` / ``<tower>_projection`` are kept whole."""
    mine = TOWER_PREFIXES.get(tower, (f"{tower}_",))
    for name, _ in list(model.named_children()):
        if name.endswith(("_model", "_projection")) and not name.startswith(mine):
            delattr(model, name)
    for name in [n for n in model._parameters if n.startswith("logit_")]:
        delattr(model, name)
    return model


class HFTower(nn.Module):
    """Packed processor outputs ``[B, ...]`` -> projected features ``[B, D]``."""

    def __init__(self, model: nn.Module, tower: str, layout: Layout):
        super().__init__()
        self.model = model
        self.method = feature_method(tower)
        self.layout = layout

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        out = getattr(self.model, self.method)(**unpack(packed, self.layout))
        # transformers >= 5 returns the projected features as pooler_output; earlier versions a tensor
        return out if isinstance(out, torch.Tensor) else out.pooler_output


def image_processor(files: Path):
    """The directory's own image processor (cached per process and directory version)."""
    return processor(files, "image")


def tokenizer(files: Path):
    return processor(files, "text")


@lru_cache(maxsize=16)
def _cached(path: str, version: tuple, tower: str):
    import transformers

    loader_name, what, expected = PROCESSORS[tower]
    if not any((Path(path) / name).is_file() for name in expected):
        # transformers would make a default one from config.json alone: an empty vocabulary
        raise CheckpointError(f"{path} has no usable {what}: none of {', '.join(expected)}")
    try:
        return getattr(transformers, loader_name).from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} has no usable {what}: {type(exc).__name__}: {exc}") from exc


def processor(files: Path, tower: str):
    """The processor a tower's inputs go through (``PROCESSORS``), cached per process and
    directory version."""
    return _cached(str(files), directory_version(files), tower)
