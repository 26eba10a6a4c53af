"""The official ImageBind code (``imagebind-unofficial``, CC-BY-NC) as a test-only reference.

``tests/install_reference_impl.sh`` installs it. Every parity test imports it through
``import_reference``, the one place that decides what a missing package means: on a
developer's machine the parity tests skip, but with ``CI=true`` in the environment (``.ci/run``
sets it) they fail, so a broken install script cannot turn the parity checks green by
skipping them.
"""
from __future__ import annotations

import importlib
import os
import sys

import pytest
import torch

INSTALL = "bash tests/install_reference_impl.sh .venv"
# Width and heads per branch, all different, so a mix-up between branches cannot go unnoticed.
SMALL = {"vision": (40, 4), "text": (32, 2), "audio": (24, 4), "depth": (16, 8), "thermal": (48, 4), "imu": (32, 2)}


def reference_required() -> bool:
    """CI runs must exercise the parity tests; only a local run may skip them."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def import_reference(module: str):
    """Import ``module`` of the official code, or skip (locally) / fail (``CI=true``) without it."""
    # pytorchvideo 0.1.5 (imported by imagebind.data) still uses torchvision's pre-0.17 module name.
    import torchvision.transforms._functional_tensor as functional_tensor

    sys.modules.setdefault("torchvision.transforms.functional_tensor", functional_tensor)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"the ImageBind reference code is not importable ({module}: {exc}); install it with {INSTALL}"
        if reference_required():
            pytest.fail(f"{message}. CI=true: parity tests must run, not skip", pytrace=False)
        pytest.skip(message, allow_module_level=True)


def official_kwargs(dims: dict, out_dim: int, blocks: int) -> dict:
    """``ImageBindModel`` keyword arguments for the widths and heads in ``dims``."""
    kwargs = {"out_embed_dim": out_dim}
    for modality, (width, heads) in dims.items():
        kwargs.update({f"{modality}_embed_dim": width, f"{modality}_num_blocks": blocks,
                       f"{modality}_num_heads": heads})
    return kwargs


@torch.no_grad()
def perturb(model: torch.nn.Module, seed: int = 0) -> None:
    """Random values for every parameter and post-scale (the official init sets LN to 1/0, biases to 0)."""
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        param.add_(torch.randn(param.shape, generator=generator) * 0.05)
    for name, buffer in model.named_buffers():
        if name.endswith("log_logit_scale"):
            buffer.add_(0.3)


def official_small_model(out_dim: int = 24, blocks: int = 2) -> torch.nn.Module:
    """The official model at ``SMALL`` widths with perturbed random weights, in eval mode."""
    imagebind_model = import_reference("imagebind.models.imagebind_model")
    torch.manual_seed(0)
    model = imagebind_model.ImageBindModel(**official_kwargs(SMALL, out_dim=out_dim, blocks=blocks)).eval()
    perturb(model)
    return model
