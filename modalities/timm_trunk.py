"""Any timm model as a vision trunk: the ``"timm"`` trunk kind vision offers.

``create_encoder("vision/timm", trunk={"timm_model": "convnext_nano", "pretrained_path": W})``
builds the model headless through timm (``imagebind_lite.towers.timm_tower``), weights from the
local file ``W`` (``trunk["hub"] = True`` asks the hub instead), and records timm's own data
config for it (input size, interpolation, mean/std, crop), so images are preprocessed by timm's
evaluation transform as the model was trained. Entries set in the encoder's ``data`` win (e.g.
``data={"image_size": 384}``). timm has no projection to a shared space: the shared ``Head``
projects the pooled ``num_features`` to ``embed_dim``.

Saved models written before timm's data config was recorded keep the data config they were
saved with (resize, centre crop, mean/std), so they embed exactly as before.
"""
from __future__ import annotations

from imagebind_lite.config import EncoderConfig
from imagebind_lite.layers import PassThroughStem
from imagebind_lite.modalities.vision_image import IMAGENET_MEAN, IMAGENET_STD
from imagebind_lite.towers.timm_tower import TimmTrunk, create_timm_model, timm_data_config
from imagebind_lite.trunk_kinds import BuiltTrunk, TrunkKind

__all__ = ["IMAGENET_DATA", "TIMM_KIND", "TimmTrunk", "build_timm_trunk"]

# ImageNet statistics at 224 px: the data config timm encoders were saved with before timm's own
# was recorded (kept for code that imports it).
IMAGENET_DATA = {"image_size": 224, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "interpolation": "bicubic"}


def build_timm_trunk(config: EncoderConfig) -> BuiltTrunk:
    """The timm trunk named by ``config.trunk``, and the config to record.

    The head reads the pooled width from the config, so it is recorded there. Once loaded, the
    weights live in the encoder's state dict: the recorded config drops the weight source (kept
    as ``initialised_from``) so a saved model reloads without that file or the network.
    """
    trunk = config.trunk
    model = create_timm_model(trunk.get("timm_model"), trunk.get("pretrained_path") or None,
                              bool(trunk.get("hub", False)), trunk.get("timm_kwargs"))
    built_before = "output_width" in trunk  # a recorded config: its data config is the one to keep
    data = config.data if built_before else timm_data_config(model, config.data)
    source = trunk.get("pretrained_path") or ("hub" if trunk.get("hub") else None)
    recorded = EncoderConfig.from_dict({**config.to_dict(), "data": data}).replace(pool="none", trunk={
        "kind": "timm", "output_width": int(model.num_features), "pretrained_path": None, "hub": False,
        "initialised_from": source or trunk.get("initialised_from"),
    })
    return BuiltTrunk(TimmTrunk(model), recorded)


def image_stem(config: EncoderConfig) -> PassThroughStem:
    """timm models patchify (or convolve) the image themselves; one sample is [3, H, W]."""
    return PassThroughStem(input_ndim=3)


TIMM_KIND = TrunkKind(build_timm_trunk, keys=("timm_model",), stem=image_stem)
