"""A small multinomial logistic regression in torch (full-batch L-BFGS), used as a linear probe.

Linear separability of modalities is the second measure of the modality gap (Liang et al. 2022,
"Mind the Gap"): if a linear classifier tells a text embedding from an audio embedding with
ease, the two clouds occupy different regions of the sphere, whatever their cosine alignment.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def linear_probe_accuracy(x: torch.Tensor, y: torch.Tensor, test_fraction: float = 0.3, steps: int = 50,
                          weight_decay: float = 1e-4, seed: int = 0) -> float:
    """Held-out accuracy of a logistic regression trained on a random ``1 - test_fraction`` split."""
    x, y = x.float(), torch.as_tensor(y, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(x.shape[0], generator=gen)
    n_test = max(1, int(round(test_fraction * x.shape[0])))
    test, train = perm[:n_test], perm[n_test:]
    classes = int(y.max()) + 1
    weight = torch.zeros(x.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x[train] @ weight + bias, y[train]) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        pred = (x[test] @ weight + bias).argmax(dim=1)
    return (pred == y[test]).float().mean().item()
