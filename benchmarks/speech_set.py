"""A small real speech set to tune audio encoders on: spoken class names in several voices.

    python benchmarks/speech_set.py OUT [--classes 16] [--clips-per-voice 3] [--captions 400]

Real recordings made here with the speech synthesiser espeak-ng (``apt-get install espeak-ng``):
each clip says a class name ("dog", "a kettle", "that is a drum"...) in one voice (an accent plus
a voice variant) at a random speed and pitch, placed at a random offset in a fixed-length
recording over a faint noise floor, as a user's own small recordings would be. Each clip is
paired with an image of its class, and a separate collection of image-caption pairs trains the
text side, so speech -> text zero-shot can only come out emergent, through the image pivot.

No image data set or pretrained image model can be downloaded here, so the images are the
synthetic world's renders of the concept each word names, and the pivot is the tiny vision
encoder pretrained on world images (``pretrain_pivot``), saved as a self-contained model.

Voices are split three ways with no accent and no variant shared between groups: training
voices; dev voices (validation during fit, for tuning); test voices (evaluation only). The
held-out groups are unseen speakers in the strongest sense espeak-ng allows.

Files written under OUT (manifests are CSV with paths relative to OUT):
  speech_train.csv  vision, audio, label, voice, phrase   (image, speech) pairs, training voices
  speech_val.csv    the same columns, dev voices           validation during fit
  speech_test.csv   the same columns, test voices          evaluation only
  captions_train.csv / captions_val.csv  vision, text, label   (image, caption) pairs
  speech_text_train.csv / speech_text_val.csv  audio, text, label   the train / dev clips with
                    captions of their class (the direct speech-text baseline's pairs: text in
                    place of images)
  prompts.json      {class name: [prompt, ...]} in label order, for zero-shot evaluation
  speech_set.json   classes, voices per split, counts, and the options used
  pivot/model       the world-pretrained frozen image pivot (unless --no-pivot)
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import soundfile as sf

from imagebind_lite.data.manifest import write_manifest_csv
from imagebind_lite.data.world import SyntheticWorld, WorldConfig
from imagebind_lite.data.world.fileio import write_json, write_png

# Accents and variants are disjoint between the groups: a test voice shares neither with training.
TRAIN_VOICES = ("en-us+m1", "en-us+f2", "en-gb+m3", "en-gb+f1", "en-gb-scotland+m2", "en-gb-scotland+f3",
                "en-gb-x-gbclan+m6", "en-us-nyc+f5")
DEV_VOICES = ("en-gb-x-rp+m5",)
TEST_VOICES = ("en-029+m4", "en-029+f4", "en-gb-x-gbcwmd+m7")
CARRIERS = ("{}", "{a} {}", "the {}", "that is {a} {}", "{}?")   # how each word is said
PROMPTS = ("a photo of {a} {}", "a picture of the {}", "{a} {}", "the {}")  # the captions' wording
SPLITS = ("train", "val", "test")


@dataclass
class SpeechSetConfig:
    """Everything that determines a speech set; written to speech_set.json."""

    classes: int = 16             # K spoken class names: the world's first K concepts
    seed: int = 0                 # world seed and the seed of speeds, pitches, phrases, offsets
    train_voices: List[str] = field(default_factory=lambda: list(TRAIN_VOICES))
    dev_voices: List[str] = field(default_factory=lambda: list(DEV_VOICES))
    test_voices: List[str] = field(default_factory=lambda: list(TEST_VOICES))
    clips_per_voice: int = 3      # clips of each class per training voice
    heldout_clips_per_voice: int = 2  # clips of each class per dev / test voice
    captions: int = 400           # image-caption training pairs
    val_captions: int = 64        # image-caption validation pairs
    caption_name_rate: float = 0.9  # share of captions naming the object (users' captions mostly do;
                                    # the rest only describe it: "a large striped object")
    seconds: float = 1.5          # recording length: speech at a random offset, silence around it
    speed: tuple = (130, 210)     # espeak-ng -s range, words per minute
    pitch: tuple = (25, 75)       # espeak-ng -p range (0..99)
    noise: float = 0.003          # std of the noise floor added to every recording (full scale 1)
    image_size: int = 64          # world render side; the pivot is trained at this size
    clutter_max: int = 0          # distractor blobs per image: none, clear pictures of the named object
    pixel_noise: float = 2.0      # image noise std (0..255): photos of the object, as users take them
                                  # (the pivot still bounds every speech figure: see pretrain_world_pivot)


def require_espeak() -> str:
    """Path of espeak-ng, or a clear error saying how to install it."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed: the speech set is recorded with it "
                           "(Debian/Ubuntu: apt-get install espeak-ng)")
    return exe


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _say(template: str, word: str) -> str:
    return template.replace("{a}", _article(word)).format(word)


def speak(text: str, voice: str, speed: int, pitch: int, path: Path) -> None:
    """One espeak-ng recording into ``path`` (wav, espeak-ng's own rate), or an error naming the voice."""
    result = subprocess.run([require_espeak(), "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text],
                            capture_output=True, text=True)
    if result.returncode != 0 or not path.exists() or path.stat().st_size <= 44:
        raise RuntimeError(f"espeak-ng failed for voice {voice!r} saying {text!r}: {result.stderr.strip()}")


def record(text: str, voice: str, rng: np.random.Generator, cfg: SpeechSetConfig, path: Path) -> None:
    """Say ``text`` in ``voice`` at a random speed and pitch; place it at a random offset in a
    ``cfg.seconds`` recording over a noise floor; write 16-bit wav at the synthesiser's rate."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        speak(text, voice, int(rng.integers(*cfg.speed)), int(rng.integers(*cfg.pitch)), raw)
        speech, rate = sf.read(raw, dtype="float32")
    total = max(int(cfg.seconds * rate), len(speech))
    out = rng.normal(0.0, cfg.noise, total).astype(np.float32)
    start = int(rng.integers(0, total - len(speech) + 1))
    out[start:start + len(speech)] += speech * float(rng.uniform(0.5, 1.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(out, -1.0, 1.0), rate, subtype="PCM_16")


def _image(world: SyntheticWorld, collection: str, index: int, label: int, out: Path, rel: str) -> str:
    sample = world.sample(collection, index)
    assert sample["label"] == label, "world instances cycle through the classes: index % K is the class"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    write_png(out / rel, sample["vision"])
    return rel


def _speech_rows(world, cfg, split: str, voices: Sequence[str], per_voice: int, out: Path,
                 rng: np.random.Generator) -> List[Dict]:
    """One row per (voice, class, clip); images from a world collection of their own per split."""
    collection = "audio" if split == "train" else "eval"   # held-out images for held-out voices
    names, rows, k = world.class_names, [], len(world.class_names)
    offset = 0 if split != "test" else k * 10 ** 5         # dev and test never share an image
    for v, voice in enumerate(voices):
        for j in range(per_voice):
            for label, name in enumerate(names):
                phrase = _say(CARRIERS[int(rng.integers(len(CARRIERS)))], name)
                clip_id = f"{split}-{voice.replace('+', '_')}-{name}-{j}"
                record(phrase, voice, rng, cfg, out / "audio" / split / f"{clip_id}.wav")
                index = offset + label + k * (j + per_voice * v)  # label = index % k: the right class
                image = _image(world, collection, index, label, out, f"images/{split}/{clip_id}.png")
                rows.append({"id": clip_id, "vision": image, "audio": f"audio/{split}/{clip_id}.wav",
                             "label": name, "voice": voice, "phrase": phrase})
    return rows


def _caption_rows(world, start: int, count: int, out: Path, split: str) -> List[Dict]:
    rows = []
    for i in range(start, start + count):
        sample = world.sample("text", i)
        rel = f"images/captions_{split}/{i:06d}.png"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        write_png(out / rel, sample["vision"])
        rows.append({"id": f"caption-{i:06d}", "vision": rel, "text": sample["text"], "label": sample["concept"]})
    return rows


def _speech_text_rows(speech: List[Dict], captions: List[Dict]) -> List[Dict]:
    """Each training clip with a caption of its class (captions cycled per class): the direct
    baseline's pairs, the same clips and the same kind of text the emergent path sees."""
    by_class: Dict[str, List[str]] = {}
    for row in captions:
        by_class.setdefault(row["label"], []).append(row["text"])
    seen: Dict[str, int] = {}
    rows = []
    for row in speech:
        texts = by_class.get(row["label"]) or [_say("{a} {}", row["label"])]
        n = seen.get(row["label"], 0)
        seen[row["label"]] = n + 1
        rows.append({"id": row["id"], "audio": row["audio"], "text": texts[n % len(texts)], "label": row["label"]})
    return rows


def class_prompts(world: SyntheticWorld) -> Dict[str, List[str]]:
    """Class name -> prompts over its name and first synonym, worded like the captions."""
    return {c.name: [_say(p, n) for n in c.names[:2] for p in PROMPTS] for c in world.concepts}


def write_speech_set(out_dir, cfg: Optional[SpeechSetConfig] = None, log=print) -> Path:
    """Record and write the whole set (see the module docstring); returns ``out_dir``."""
    cfg = cfg or SpeechSetConfig()
    shared = (set(cfg.test_voices) | set(cfg.dev_voices)) & set(cfg.train_voices) | (
        set(cfg.test_voices) & set(cfg.dev_voices))
    if shared:
        raise ValueError(f"voices must not be shared between train, dev and test: {sorted(shared)}")
    require_espeak()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = SyntheticWorld(world_config(cfg, name_rate=cfg.caption_name_rate))  # name_rate: captions only
    rng = np.random.default_rng(cfg.seed)
    voices = {"train": cfg.train_voices, "val": cfg.dev_voices, "test": cfg.test_voices}
    per_voice = {"train": cfg.clips_per_voice, "val": cfg.heldout_clips_per_voice, "test": cfg.heldout_clips_per_voice}
    speech = {}
    for split in SPLITS:
        speech[split] = _speech_rows(world, cfg, split, voices[split], per_voice[split], out, rng)
        write_manifest_csv(out / f"speech_{split}.csv", ["id", "vision", "audio", "label", "voice", "phrase"],
                           speech[split])
        log(f"speech {split}: {len(speech[split])} clips from {len(voices[split])} voice(s)")
    captions = {"train": _caption_rows(world, 0, cfg.captions, out, "train"),
                "val": _caption_rows(world, cfg.captions, cfg.val_captions, out, "val")}
    for split in ("train", "val"):
        write_manifest_csv(out / f"captions_{split}.csv", ["id", "vision", "text", "label"], captions[split])
        write_manifest_csv(out / f"speech_text_{split}.csv", ["id", "audio", "text", "label"],
                           _speech_text_rows(speech[split], captions[split]))
    write_json(out / "prompts.json", class_prompts(world))
    write_json(out / "speech_set.json", {"config": asdict(cfg), "class_names": world.class_names, "voices": voices,
                                         "counts": {s: len(r) for s, r in speech.items()}})
    log(f"captions: {cfg.captions} train, {cfg.val_captions} val -> {out}")
    return out


def world_config(cfg: SpeechSetConfig, **changes) -> WorldConfig:
    """The world the set's images (and its pivot's training images) come from."""
    return WorldConfig(num_concepts=cfg.classes, seed=cfg.seed, image_size=cfg.image_size,
                       clutter_max=cfg.clutter_max, pixel_noise=cfg.pixel_noise, **changes)


def pretrain_world_pivot(out_dir, cfg: SpeechSetConfig, epochs: int = 12, train_size: int = 16384,
                         batch_size: int = 128) -> Path:
    """The frozen image pivot: the tiny vision encoder pretrained on world images of the same
    concepts (the stand-in for CLIP weights here); returns ``out_dir/pivot/model``. Twice the demo's
    pretraining by default: every figure on the set is bounded by how well the pivot separates the
    classes (nearest class mean on the test images, world's default scenes: 0.52 after 4 x 4096
    images, 0.75 after 6 x 8192; the set's clear pictures: 0.71 after 6 x 8192)."""
    from imagebind_lite.training import pretrain_pivot

    return pretrain_pivot(world_config(cfg), Path(out_dir) / "pivot", max_epochs=epochs, train_size=train_size,
                          batch_size=batch_size)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--classes", type=int, default=16, help="spoken class names (world concepts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips-per-voice", type=int, default=3, help="clips per class per training voice")
    parser.add_argument("--heldout-clips-per-voice", type=int, default=2, help="clips per class per dev/test voice")
    parser.add_argument("--captions", type=int, default=400, help="image-caption training pairs")
    parser.add_argument("--val-captions", type=int, default=64)
    parser.add_argument("--train-voices", help="comma-separated espeak-ng voices (default: eight)")
    parser.add_argument("--dev-voices", help="comma-separated held-out voices for validation")
    parser.add_argument("--test-voices", help="comma-separated held-out voices for evaluation only")
    parser.add_argument("--no-pivot", action="store_true", help="skip pretraining the image pivot")
    # 12 x 16384 separates the classes (0.99 nearest class mean on the test images), as the
    # pretrained image encoders users bring do; 6 x 8192 reaches 0.77 and bounds every figure.
    parser.add_argument("--pivot-epochs", type=int, default=12)
    parser.add_argument("--pivot-train-size", type=int, default=16384, help="world images the pivot learns from")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SpeechSetConfig:
    cfg = SpeechSetConfig(classes=args.classes, seed=args.seed, clips_per_voice=args.clips_per_voice,
                          heldout_clips_per_voice=args.heldout_clips_per_voice, captions=args.captions,
                          val_captions=args.val_captions)
    for name in ("train_voices", "dev_voices", "test_voices"):
        if getattr(args, name):
            setattr(cfg, name, [v.strip() for v in getattr(args, name).split(",") if v.strip()])
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = config_from_args(args)
    write_speech_set(args.out_dir, cfg)
    if not args.no_pivot:
        print(f"pivot: {pretrain_world_pivot(args.out_dir, cfg, args.pivot_epochs, args.pivot_train_size)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
