"""imagebind-lite: bind many modalities into one embedding space around a frozen image pivot.

Public surface: the registry (``register_modality``, ``list_modalities``, ``get_modality``),
the encoder contract (``ModalitySpec``, ``EncoderConfig``, ``create_encoder``,
``MultiModalModel``), saved models (``load_model``, ``save_model``) and the error family
(``ImageBindLiteError``, ``InputError``).
"""
from imagebind_lite.config import EncoderConfig
from imagebind_lite.encoder import Encoder, MultiModalModel, create_encoder
from imagebind_lite.errors import CheckpointError, ImageBindLiteError, InputError, UnknownNameError
from imagebind_lite.modality import ModalitySpec
from imagebind_lite.registry import get_modality, list_modalities, register_modality
from imagebind_lite.saved_model import load_model, save_model

__version__ = "0.1.0"

__all__ = [
    "CheckpointError", "Encoder", "EncoderConfig", "ImageBindLiteError", "InputError", "ModalitySpec",
    "MultiModalModel", "UnknownNameError", "create_encoder", "get_modality", "list_modalities",
    "load_model", "register_modality", "save_model",
]
