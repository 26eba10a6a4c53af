"""A minimal hand-written baseline on the speech set (speech_set.py): the yardstick for presets.

    python benchmarks/speech_baseline.py SET_DIR [--epochs 160] [--seed 0]

Plain PyTorch, short on purpose: a 3-layer CNN on log-mel (torchaudio) and a bag-of-words text
encoder, each trained with Adam (cosine learning rate) and symmetric InfoNCE against the same
frozen pivot's image embeddings (speech on the speech-image pairs, text on the caption pairs,
separately); then emergent speech -> text zero-shot on the unseen test voices. Only the frozen
pivot comes from the framework (``load_model``), so both sides align to exactly the same image space.
"""
import argparse
import csv
import json
import math
from pathlib import Path

import soundfile as sf
import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

RATE, SECONDS = 16000, 1.5
MEL = torchaudio.transforms.MelSpectrogram(RATE, n_fft=400, hop_length=160, n_mels=64)
# SpecAugment-style masks plus a random shift, on training batches only.
MASKS = nn.Sequential(torchaudio.transforms.FrequencyMasking(12, iid_masks=True),
                      torchaudio.transforms.TimeMasking(20, iid_masks=True))


def rows(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def log_mel(path):
    wave, rate = sf.read(path, dtype="float32", always_2d=True)
    wave = torchaudio.functional.resample(torch.from_numpy(wave.mean(1)), rate, RATE)
    wave = F.pad(wave, (0, max(0, int(RATE * SECONDS) - len(wave))))[: int(RATE * SECONDS)]
    mel = (MEL(wave) + 1e-6).log()
    # Per-utterance mean/variance normalisation of each mel band: removes loudness and channel
    # differences between voices, and puts the input on a scale the CNN trains well on without a norm layer.
    return ((mel - mel.mean(1, keepdim=True)) / (mel.std(1, keepdim=True) + 1e-5))[None]  # [1, mel, frames]


def cnn(dim, width=16):
    # No BatchNorm: in a contrastive batch its batch statistics make each embedding depend on the
    # other clips, so the train-mode loss is not the function used at test time (eval mode fits the
    # training clips far worse). The first block pools 4x4 to keep a CPU epoch to about a second.
    def block(i, o, pool):
        return [nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.MaxPool2d(pool)]
    return nn.Sequential(*block(1, width, 4), *block(width, 2 * width, 2), *block(2 * width, 4 * width, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, dim))


def augment(x):
    return MASKS(torch.roll(x, int(torch.randint(-20, 21, ())), dims=-1))


class BagOfWords(nn.Module):
    def __init__(self, texts, dim):
        super().__init__()
        self.vocab = {w: i + 1 for i, w in enumerate(sorted({w for t in texts for w in t.lower().split()}))}
        # Index 0 stands for words never seen in training (the prompts' "photo", "picture"): it must be
        # ignored, not a random vector that no caption ever trained and that every prompt would carry.
        self.emb = nn.EmbeddingBag(len(self.vocab) + 1, dim, padding_idx=0)

    def forward(self, texts):
        ids = [torch.tensor([self.vocab.get(w, 0) for w in t.lower().split()] or [0]) for t in texts]
        return self.emb(torch.cat(ids), torch.tensor([0] + [len(i) for i in ids[:-1]]).cumsum(0))


def train(encoder, inputs, targets, epochs, lr, batch=64, scale=20.0, transform=None):
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    steps = epochs * math.ceil(len(targets) / batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    for _ in range(epochs):
        encoder.train()
        for idx in torch.randperm(len(targets)).split(batch):
            x = inputs[idx] if torch.is_tensor(inputs) else [inputs[i] for i in idx]
            logits = scale * F.normalize(encoder(transform(x) if transform else x), dim=-1) @ targets[idx].T
            target = torch.arange(len(idx))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    return encoder.eval()


def top1(embeddings, classes, labels):
    return (F.normalize(embeddings, dim=-1) @ classes.T).argmax(1).eq(labels).float().mean().item()


def run(set_dir, pivot=None, epochs=160, seed=0, text_epochs=40):
    """Train both sides; zero-shot top-1 on the test voices (and of their images, the text side alone),
    and how well the speech side fits its own training clips (eval mode, against the class means of
    the training images)."""
    from imagebind_lite import load_model
    torch.manual_seed(seed)
    root = Path(set_dir)
    speech, captions, test = (rows(root / f) for f in ("speech_train.csv", "captions_train.csv", "speech_test.csv"))
    pivot = load_model(pivot or root / "pivot" / "model")
    with torch.no_grad():
        images = {k: pivot.embed({"vision": [root / r["vision"] for r in v]})["vision"] for k, v in
                  (("speech", speech), ("captions", captions), ("test", test))}
    dim = images["speech"].shape[1]
    clips = torch.stack([log_mel(root / r["audio"]) for r in speech])
    # lr 1e-3: without a norm layer the CNN stalls at higher rates.
    audio = train(cnn(dim), clips, images["speech"], epochs, lr=1e-3, transform=augment)
    # An embedding table learns slowly at 1e-3 (few steps: 400 captions); 1e-2 fits it in 40 epochs.
    text = train(BagOfWords([r["text"] for r in captions], dim), [r["text"] for r in captions], images["captions"],
                 text_epochs, lr=1e-2)
    prompts = json.loads((root / "prompts.json").read_text())
    names = list(prompts)
    labels = {k: torch.tensor([names.index(r["label"]) for r in v]) for k, v in (("train", speech), ("test", test))}
    with torch.no_grad():
        classes = torch.stack([F.normalize(F.normalize(text(p), dim=-1).mean(0), dim=0) for p in prompts.values()])
        centroids = F.normalize(torch.stack([images["speech"][labels["train"] == i].mean(0)
                                             for i in range(len(names))]), dim=-1)
        return {"speech_text_top1": top1(audio(torch.stack([log_mel(root / r["audio"]) for r in test])), classes,
                                         labels["test"]),
                "image_text_top1": top1(images["test"], classes, labels["test"]),  # the text side alone
                "speech_train_fit": top1(audio(clips), centroids, labels["train"])}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="minimal CNN + bag-of-words baseline on a speech set")
    parser.add_argument("set_dir")
    parser.add_argument("--pivot", help="saved pivot model (default: SET_DIR/pivot/model)")
    parser.add_argument("--epochs", type=int, default=160, help="speech CNN epochs")
    parser.add_argument("--text-epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(run(args.set_dir, args.pivot, args.epochs, args.seed, args.text_epochs))
