"""imagebind-lite: bind many modalities into one embedding space around a frozen image pivot.

Public surface: the registry (``register_modality``, ``list_modalities``, ``get_modality``),
the encoder contract (``ModalitySpec`` and its stage hooks, ``TrunkKind``/``BuiltTrunk`` for
extra trunk kinds, ``EncoderConfig``, ``Encoder``, ``create_encoder``), the user-facing model
(``MultiModalModel``, ``load_model``, ``save_model``) and the error family
(``ImageBindLiteError``, ``InputError``).

Modules import one way, bottom to top: config/errors -> layers -> encoder -> trunk_kinds ->
modality -> registry -> factory -> embedding, saved_model -> model.
"""
from imagebind_lite.config import EncoderConfig
from imagebind_lite.encoder import Encoder
from imagebind_lite.errors import CheckpointError, ImageBindLiteError, InputError, UnknownNameError
from imagebind_lite.factory import create_encoder
from imagebind_lite.modality import ModalitySpec
from imagebind_lite.model import MultiModalModel, load_model
from imagebind_lite.registry import get_modality, list_modalities, register_modality
from imagebind_lite.saved_model import save_model
from imagebind_lite.trunk_kinds import BuiltTrunk, TrunkKind

__version__ = "0.1.0"

__all__ = [
    "BuiltTrunk", "CheckpointError", "Encoder", "EncoderConfig", "ImageBindLiteError", "InputError", "ModalitySpec",
    "MultiModalModel", "TrunkKind", "UnknownNameError", "create_encoder", "get_modality", "list_modalities",
    "load_model", "register_modality", "save_model",
]
