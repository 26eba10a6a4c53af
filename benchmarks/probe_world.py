"""Is the synthetic world neither trivial nor impossible? Probe accuracies per modality.

Two probes on held-out eval samples, next to chance in the same run:
  * linear: a ridge classifier on raw features (imagebind_lite.data.world.probe), for all six
    modalities, on concept labels and on the binned attributes (tempo has no visual correlate:
    vision should sit at chance on it while audio and IMU read it);
  * tiny CNN: three strided convolutions trained briefly on the three camera modalities, since
    a linear map on pixels cannot undo the objects' random positions (depth as disparity, the
    way the depth modality feeds its encoder: on metres the same CNN stalls near chance).

    python benchmarks/probe_world.py [--concepts 16 64] [--train 3000] [--test 1000] [--epochs 20]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from imagebind_lite.data.world import SyntheticWorld, WorldConfig
from imagebind_lite.data.world.probe import probe_world

CAMERAS = ("vision", "depth", "thermal")


def _camera_tensor(samples, modality: str) -> torch.Tensor:
    x = np.stack([s[modality] for s in samples]).astype(np.float32)
    if modality == "depth":  # depth enters encoders as disparity (ImageBind, our depth modality)
        x = 1.0 / x
    x = x if x.ndim == 4 else x[..., None]
    x = torch.from_numpy(x).permute(0, 3, 1, 2)
    return (x - x.mean()) / (x.std() + 1e-6)


def tiny_cnn(channels: int, classes: int) -> nn.Module:
    layers, width = [], channels
    for out in (16, 32, 64):
        layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
        width = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes))


def cnn_accuracy(x: torch.Tensor, y: torch.Tensor, train: int, classes: int, epochs: int) -> float:
    torch.manual_seed(0)
    model = tiny_cnn(x.shape[1], classes)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(train).split(64):
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return float((model(x[train:]).argmax(1) == y[train:]).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    order = ("vision", "text", "audio", "depth", "thermal", "imu")
    print(f"{'K':>3} {'probe':>16} {'target':>9} {'chance':>7} " + " ".join(f"{m:>8}" for m in order))
    for k in args.concepts:
        world = SyntheticWorld(WorldConfig(num_concepts=k, seed=args.seed))
        start = time.perf_counter()
        for target in ("label", "tempo_bin", "size_bin"):
            acc = probe_world(world, args.train, args.test, target=target)
            print(f"{k:>3} {'linear raw':>16} {target:>9} {acc['chance']:7.3f} "
                  + " ".join(f"{acc[m]:8.3f}" for m in order))
        samples = [world.sample("eval", i) for i in range(args.train + args.test)]
        y = torch.tensor([s["label"] for s in samples])
        cnn = {m: cnn_accuracy(_camera_tensor(samples, m), y, args.train, k, args.epochs) for m in CAMERAS}
        chance = float(np.bincount(y[args.train:].numpy()).max() / args.test)
        print(f"{k:>3} {'tiny cnn ' + str(args.epochs) + ' ep':>16} {'label':>9} {chance:7.3f} "
              + " ".join(f"{cnn[m]:8.3f}" if m in cnn else f"{'-':>8}" for m in order))
        print(f"    ({time.perf_counter() - start:.0f} s for K={k})")


if __name__ == "__main__":
    main()
