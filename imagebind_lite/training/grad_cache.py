"""Gradient caching: a contrastive batch of B pairs with the activation memory of c.

Reference: Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory
Limited Setup" (GradCache). A contrastive loss couples every sample of the batch, so plain
gradient accumulation over micro-batches changes the loss (fewer negatives); GradCache keeps
the loss of the full batch and still bounds memory:

1. embed the B inputs in chunks of c *without* a graph (only the [B, D] embeddings stay);
2. compute the loss on the full B x B logits (with the cross-rank gather under DDP) and its
   gradient w.r.t. the embeddings;
3. re-run each chunk *with* a graph and back-propagate that chunk's slice of the embedding
   gradient into the encoder's parameters, then free the chunk's activations.

The parameter gradients are a sum over chunks of ``J_chunk^T g_chunk``: exactly those of
one pass over B. Stochastic layers (dropout, drop path) must draw the same masks in 3 as in
1, so the random state is recorded before each chunk and restored for its re-run, as is the
autocast state (Lightning's mixed precision wraps the forward, not the backward).

Here steps 1 and 3 are the forward and backward of one autograd function whose inputs are
the encoder's trainable parameters and whose backward *returns* their gradients (summed over
chunks). Step 2 is ordinary autograd between them. So the whole thing is one backward pass
from Lightning's point of view, which keeps automatic optimisation: DDP's reducer sees each
parameter become ready exactly once and all-reduces once per logical batch (no ``no_sync``
juggling, no reducer marked twice as re-entrant backward calls would cause), and gradient
clipping, AMP loss scaling (the scaled loss scales the embedding gradient), gradient
accumulation, the LR scheduler and checkpoints stay Lightning's. Not covered: FSDP (its
parameters are unsharded around forward calls, which a re-run inside backward bypasses) and
BatchNorm layers (their running statistics would be updated twice).
"""
from __future__ import annotations

from contextlib import ExitStack
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

__all__ = ["encode_in_chunks"]


def encode_in_chunks(encoder: nn.Module, inputs: Tensor, chunk: Optional[int]) -> Tensor:
    """``encoder(inputs)`` holding the activations of at most ``chunk`` rows at a time.

    With gradients enabled and trainable parameters: gradient caching (module docstring).
    Without (a frozen pivot, validation): a plain chunked forward. ``chunk=None`` or a batch
    that fits in one chunk: one ordinary call, graph and all.
    """
    if chunk is None or inputs.shape[0] <= chunk:
        return encoder(inputs)
    params = [p for p in encoder.parameters() if p.requires_grad]
    if not torch.is_grad_enabled() or not params:
        with torch.no_grad():
            return torch.cat([encoder(piece) for piece in inputs.split(chunk)])
    return _GradCachedEncode.apply(encoder, int(chunk), inputs, *params)


class _ChunkState:
    """The random and autocast state one chunk was embedded with, to replay it exactly."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cpu_rng = torch.get_rng_state()
        self.device_rng = _device_module(device).get_rng_state(device) if device.type != "cpu" else None

    def replay(self) -> ExitStack:
        """Fork the RNG (the caller's stream is left untouched), restore this chunk's state."""
        stack = ExitStack()
        devices = [self.device] if self.device_rng is not None else []
        stack.enter_context(torch.random.fork_rng(devices=devices, device_type=self.device.type))
        torch.set_rng_state(self.cpu_rng)
        if self.device_rng is not None:
            _device_module(self.device).set_rng_state(self.device_rng, self.device)
        return stack


def _device_module(device: torch.device):
    return torch.get_device_module(device.type)


def _autocast_state(device_type: str) -> Tuple[bool, torch.dtype]:
    return torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)


class _GradCachedEncode(torch.autograd.Function):
    """forward: chunked embedding without a graph; backward: re-run each chunk with a graph
    and return the parameters' gradients summed over chunks (module docstring)."""

    @staticmethod
    def forward(ctx, encoder: nn.Module, chunk: int, inputs: Tensor, *params: Tensor) -> Tensor:
        ctx.encoder, ctx.chunk = encoder, chunk
        ctx.autocast = _autocast_state(inputs.device.type)
        ctx.states: List[_ChunkState] = []
        outputs = []
        for piece in inputs.split(chunk):  # grad mode is off inside forward: no graph is kept
            ctx.states.append(_ChunkState(piece.device))
            outputs.append(encoder(piece))
        ctx.save_for_backward(inputs, *params)
        return torch.cat(outputs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: Tensor):
        inputs, *params = ctx.saved_tensors
        enabled, dtype = ctx.autocast
        totals: List[Optional[Tensor]] = [None] * len(params)
        pieces = zip(inputs.split(ctx.chunk), grad_output.split(ctx.chunk), ctx.states)
        for piece, grad_piece, state in pieces:
            with state.replay(), torch.enable_grad(), \
                    torch.autocast(inputs.device.type, dtype=dtype, enabled=enabled):
                output = ctx.encoder(piece)
            grads = torch.autograd.grad(output, params, grad_piece, allow_unused=True)
            del output  # frees this chunk's activations before the next re-run
            for index, grad in enumerate(grads):
                if grad is None:
                    continue
                if totals[index] is None:  # a private copy: autograd may hand out views it owns
                    totals[index] = grad.clone(memory_format=torch.contiguous_format)
                else:
                    totals[index].add_(grad)
        return (None, None, None, *totals)
