"""A minimal hand-written baseline on the speech set (speech_set.py): the yardstick for presets.

    python benchmarks/speech_baseline.py SET_DIR [--epochs 40]

Plain PyTorch, short on purpose: a 3-layer CNN on log-mel (torchaudio) and a bag-of-words text
encoder, each trained with Adam and symmetric InfoNCE against the same frozen pivot's image
embeddings (speech on the speech-image pairs, text on the caption pairs, separately); then
emergent speech -> text zero-shot on the unseen test voices. Only the frozen pivot comes from
the framework (``load_model``), so both sides align to exactly the same image space.
"""
import argparse
import csv
import json
from pathlib import Path

import soundfile as sf
import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

RATE, SECONDS = 16000, 1.5
MEL = torchaudio.transforms.MelSpectrogram(RATE, n_fft=400, hop_length=160, n_mels=64)


def rows(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def log_mel(path):
    wave, rate = sf.read(path, dtype="float32", always_2d=True)
    wave = torchaudio.functional.resample(torch.from_numpy(wave.mean(1)), rate, RATE)
    wave = F.pad(wave, (0, max(0, int(RATE * SECONDS) - len(wave))))[: int(RATE * SECONDS)]
    return (MEL(wave) + 1e-6).log()[None]  # [1, mel, frames]


def cnn(dim):
    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*block(1, 32), *block(32, 64), *block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(128, dim))


class BagOfWords(nn.Module):
    def __init__(self, texts, dim):
        super().__init__()
        self.vocab = {w: i + 1 for i, w in enumerate(sorted({w for t in texts for w in t.lower().split()}))}
        self.emb = nn.EmbeddingBag(len(self.vocab) + 1, dim)  # index 0: unknown words

    def forward(self, texts):
        ids = [torch.tensor([self.vocab.get(w, 0) for w in t.lower().split()] or [0]) for t in texts]
        return self.emb(torch.cat(ids), torch.tensor([0] + [len(i) for i in ids[:-1]]).cumsum(0))


def train(encoder, inputs, targets, epochs, lr=1e-3, batch=64, scale=20.0):
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    for _ in range(epochs):
        for idx in torch.randperm(len(targets)).split(batch):
            x = inputs[idx] if torch.is_tensor(inputs) else [inputs[i] for i in idx]
            logits = scale * F.normalize(encoder(x), dim=-1) @ targets[idx].T
            target = torch.arange(len(idx))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
    return encoder.eval()


def run(set_dir, pivot=None, epochs=40, seed=0):
    """Train both sides; zero-shot top-1 on the test voices (and of their images, the text side alone)."""
    from imagebind_lite import load_model
    torch.manual_seed(seed)
    root = Path(set_dir)
    speech, captions, test = (rows(root / f) for f in ("speech_train.csv", "captions_train.csv", "speech_test.csv"))
    pivot = load_model(pivot or root / "pivot" / "model")
    with torch.no_grad():
        images = {k: pivot.embed({"vision": [root / r["vision"] for r in v]})["vision"] for k, v in
                  (("speech", speech), ("captions", captions))}
    dim = images["speech"].shape[1]
    audio = train(cnn(dim), torch.stack([log_mel(root / r["audio"]) for r in speech]), images["speech"], epochs)
    text = train(BagOfWords([r["text"] for r in captions], dim), [r["text"] for r in captions], images["captions"],
                 epochs)
    prompts = json.loads((root / "prompts.json").read_text())
    with torch.no_grad():
        classes = torch.stack([F.normalize(F.normalize(text(p), dim=-1).mean(0), dim=0) for p in prompts.values()])
        scores = F.normalize(audio(torch.stack([log_mel(root / r["audio"]) for r in test])), dim=-1) @ classes.T
        images = pivot.embed({"vision": [root / r["vision"] for r in test]})["vision"] @ classes.T  # text side alone
    labels = torch.tensor([list(prompts).index(r["label"]) for r in test])
    return {"speech_text_top1": (scores.argmax(1) == labels).float().mean().item(),
            "image_text_top1": (images.argmax(1) == labels).float().mean().item()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="minimal CNN + bag-of-words baseline on a speech set")
    parser.add_argument("set_dir")
    parser.add_argument("--pivot", help="saved pivot model (default: SET_DIR/pivot/model)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(run(args.set_dir, args.pivot, args.epochs, args.seed))
