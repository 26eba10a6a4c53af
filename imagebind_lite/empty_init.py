"""Build modules without allocating their parameters: the skeleton a saved model is loaded into.

Loading a saved model used to build every encoder with random weights and then copy the saved
ones over them: a 1B-parameter model first allocated (and randomly initialised) 4 GB it threw
away. Inside ``parameters_on_meta()`` every parameter a module registers is moved to the meta
device as it is registered, so initialisers run on shapes only; ``load_state_dict(...,
assign=True)`` then puts the saved tensors in their place.

Buffers are left alone on purpose: many are computed at construction and never saved (causal
attention masks, position ids, rotary frequencies); built on the meta device they could never be
filled in again. They are small. Anything still on the meta device after loading means the file
lacks it (``meta_tensors`` finds those).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

_META = torch.device("meta")
_PATCHING = threading.RLock()


@contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Parameters registered inside this block, by this thread, live on the meta device (no
    memory, no values); other threads building modules meanwhile (a server) are not affected."""
    original = nn.Module.register_parameter
    owner = threading.get_ident()

    def register_on_meta(module: nn.Module, name: str, param) -> None:
        original(module, name, param)
        if param is not None and param.device != _META and threading.get_ident() == owner:
            kept = module._parameters[name]
            # the same Parameter class (some libraries subclass it), moved without its data
            module._parameters[name] = type(kept)(kept.to(_META), requires_grad=kept.requires_grad)

    with _PATCHING:  # one patch at a time, so nested or concurrent loads restore the true method
        nn.Module.register_parameter = register_on_meta
        try:
            yield
        finally:
            nn.Module.register_parameter = original


def meta_tensors(module: nn.Module) -> list[str]:
    """Names of parameters and buffers of ``module`` that still have no data."""
    named = list(module.named_parameters(remove_duplicate=False)) + list(module.named_buffers(remove_duplicate=False))
    return [name for name, tensor in named if tensor.is_meta]
