"""Default prompt templates for zero-shot classification, each with where it comes from.

Every template has exactly one ``{}`` for the class name (underscores in names become spaces).
The CLIP ensemble is read from open_clip (a dependency), not retyped here.
"""
from __future__ import annotations

from typing import Tuple


def clip_imagenet_templates() -> Tuple[str, ...]:
    """CLIP's 80 ImageNet prompt templates ("a bad photo of a {}.", ...), the ensemble of
    Radford et al. 2021 that OpenCLIP ships in ``open_clip.zero_shot_metadata``. ImageBind keeps
    OpenCLIP's image and text towers frozen, so its ImageNet figure is CLIP-style zero-shot."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    return tuple(make("{}") for make in OPENAI_IMAGENET_TEMPLATES)


def clip_imagenet_class_names() -> Tuple[str, ...]:
    """CLIP's hand-cleaned names of the 1000 ILSVRC-2012 classes, in sorted-WordNet-id order."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return tuple(IMAGENET_CLASSNAMES)


# "this is a sound of <class>": the prompt CLAP (Elizalde et al. 2023) uses for zero-shot audio
# classification; LAION-CLAP's ESC-50 evaluation uses the same sentence. ImageBind's released
# code publishes no audio prompts.
AUDIO_TEMPLATES = ("this is a sound of {}.",)

# Plain "a {}.": the framework's neutral default for class folders of any modality.
DEFAULT_TEMPLATES = ("a {}.",)

# Ego4D scenario names are phrases ("Cooking", "Cleaning / laundry"), so the name itself is the
# prompt. Our choice: neither the paper's appendix text we could read nor the released code
# lists IMU prompts. Override with --template.
IMU_TEMPLATES = ("{}.",)

CLIP_SOURCE = "CLIP's 80 ImageNet templates (Radford et al. 2021), as shipped by open_clip"
AUDIO_SOURCE = "CLAP's 'this is a sound of {}.' (Elizalde et al. 2023)"
IMU_SOURCE = "the scenario name itself (our choice; no published IMU prompts)"
SENSOR_SOURCE = ("CLIP's 80 ImageNet templates (our choice for depth and thermal: these modalities are "
                 "bound to the image tower, and the released code publishes no depth/thermal prompts)")
