"""imagebind-lite: bind many modalities into one embedding space around a frozen image pivot.

Public surface: the registry (``register_modality``, ``list_modalities``, ``get_modality``),
the encoder contract (``ModalitySpec`` and its stage hooks, ``TrunkKind``/``BuiltTrunk`` for
extra trunk kinds, ``EncoderConfig``, ``Encoder``, ``create_encoder``), the user-facing model
(``MultiModalModel``, ``load_model``, ``save_model``, ``combine_models`` for models trained
in separate runs against one pivot) and the error family
(``ImageBindLiteError``, ``InputError``).

Modules import one way, bottom to top: config/errors -> layers -> encoder -> trunk_kinds ->
modality -> registry -> factory -> embedding, saved_model -> model.
"""
from imagebind_lite.errors import CheckpointError, ImageBindLiteError, InputError, UnknownNameError
from imagebind_lite.lazy import lazy_attributes

# Names are imported on first use: building models pulls in timm and torchvision, seconds of
# imports that a process searching a saved index by vector (``imagebind-lite query``), or the
# CLI's help, should not pay.
_HOMES = {
    "combine_models": "combine", "EncoderConfig": "config", "Encoder": "encoder", "create_encoder": "factory", "ModalitySpec": "modality",
    "MultiModalModel": "model", "load_model": "model", "get_modality": "registry", "list_modalities": "registry",
    "register_modality": "registry", "save_model": "saved_model", "BuiltTrunk": "trunk_kinds",
    "TrunkKind": "trunk_kinds",
}

__version__ = "0.1.0"

__all__ = [
    "BuiltTrunk", "CheckpointError", "Encoder", "EncoderConfig", "ImageBindLiteError", "InputError", "ModalitySpec",
    "MultiModalModel", "TrunkKind", "UnknownNameError", "combine_models", "create_encoder", "get_modality", "list_modalities",
    "load_model", "register_modality", "save_model",
]


__getattr__, __dir__ = lazy_attributes(__name__, _HOMES, globals())
