"""The small real speech set (benchmarks/speech_set.py): espeak-ng recordings, manifests the
framework reads, prompts for every class, and held-out voices that never reach training."""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import shutil
import sys
from pathlib import Path

import pytest
import soundfile as sf
import yaml

from imagebind_lite.data.manifest import read_manifest
from imagebind_lite.data.prompts import class_labels, load_class_prompts

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng); "
                                         "the speech set is recorded with it")


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclass needs the module registered while it executes
    spec.loader.exec_module(module)
    return module


def voice_parts(voice: str):
    accent, _, variant = voice.partition("+")
    return accent, variant


def test_default_voice_groups_share_no_voice_accent_or_variant():
    mod = script("speech_set")
    groups = [mod.TRAIN_VOICES, mod.DEV_VOICES, mod.TEST_VOICES]
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            assert not {voice_parts(v)[0] for v in a} & {voice_parts(v)[0] for v in b}
            assert not {voice_parts(v)[1] for v in a} & {voice_parts(v)[1] for v in b}


def test_a_missing_synthesiser_says_how_to_install_it(monkeypatch):
    mod = script("speech_set")
    monkeypatch.setattr(mod.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        mod.write_speech_set("unused", mod.SpeechSetConfig(classes=2))


def test_shared_voices_are_refused():
    mod = script("speech_set")
    cfg = mod.SpeechSetConfig(classes=2, train_voices=["en-us+m1"], test_voices=["en-us+m1"])
    with pytest.raises(ValueError, match="not be shared"):
        mod.write_speech_set("unused", cfg)


@needs_espeak
def test_a_tiny_set_has_readable_manifests_and_keeps_test_voices_out_of_training(tmp_path):
    mod = script("speech_set")
    cfg = mod.SpeechSetConfig(classes=3, clips_per_voice=1, heldout_clips_per_voice=1, captions=6, val_captions=3,
                              train_voices=["en-us+m1", "en-gb+f1"], dev_voices=["en-gb-x-rp+m5"],
                              test_voices=["en-029+m4"])
    mod.write_speech_set(tmp_path, cfg, log=lambda message: None)
    prompts = load_class_prompts(tmp_path / "prompts.json")
    assert list(prompts)[:3] == ["dog", "kettle", "drum"] and all(len(p) >= 4 for p in prompts.values())
    voices = {}
    for split, n_voices in (("train", 2), ("val", 1), ("test", 1)):
        manifest = read_manifest(tmp_path / f"speech_{split}.csv", ["vision", "audio"])
        assert len(manifest) == 3 * n_voices
        assert sorted(class_labels(manifest, list(prompts)).tolist()) == sorted(list(range(3)) * n_voices)
        voices[split] = {row["voice"] for row in manifest.rows}
        for i in range(len(manifest)):
            assert manifest.item(i, "vision").is_file()
            wave, rate = sf.read(manifest.item(i, "audio"))
            assert len(wave) >= cfg.seconds * rate and abs(wave).max() > 0.05  # speech, not only the noise floor
    assert voices == {"train": set(cfg.train_voices), "val": set(cfg.dev_voices), "test": set(cfg.test_voices)}
    direct = read_manifest(tmp_path / "speech_text_train.csv", ["audio", "text"])
    train = read_manifest(tmp_path / "speech_train.csv")
    assert [r["audio"] for r in direct.rows] == [r["audio"] for r in train.rows]
    assert len(read_manifest(tmp_path / "captions_train.csv", ["vision", "text"])) == 6
    info = json.loads((tmp_path / "speech_set.json").read_text())
    assert info["counts"] == {"train": 6, "val": 3, "test": 3} and info["voices"]["test"] == ["en-029+m4"]


@pytest.mark.slow
@needs_espeak
def test_the_benchmark_runs_at_smoke_size_and_skips_what_the_framework_lacks(tmp_path, capsys):
    snippet = tmp_path / "bad_augment.yaml"
    snippet.write_text("data:\n  init_args:\n    no_such_option: 1\n")
    result = script("bench_speech").main(["--tiny", "--presets", "tiny,no_such_preset", "--augment", str(snippet),
                                          "--workdir", str(tmp_path / "work"), "--json", str(tmp_path / "out.json")])
    rows = {(r["preset"], r["augment"]): r for r in result["rows"]}
    assert set(rows) == {("tiny", "none"), ("tiny", "bad_augment")}
    assert 0 <= rows[("tiny", "none")]["emergent"] <= 1 and 0 <= rows[("tiny", "none")]["direct"] <= 1
    assert "skipped" in rows[("tiny", "bad_augment")]
    assert 0 <= result["baseline"]["speech_text_top1"] <= 1
    out = capsys.readouterr()
    assert "| tiny | none |" in out.out and "no_such_preset" in out.err
    assert json.loads((tmp_path / "out.json").read_text())["rows"] == result["rows"]



def _accepts(class_path: str, init_args: dict) -> None:
    module, _, name = class_path.rpartition(".")
    parameters = inspect.signature(getattr(importlib.import_module(module), name).__init__).parameters
    assert set(init_args) <= set(parameters), f"{class_path} has no {sorted(set(init_args) - set(parameters))}"


def _recipe(name: str) -> dict:
    return yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "small_data" / name).read_text())


@pytest.mark.parametrize("name, modality", [("align_audio.yaml", "audio"), ("align_text.yaml", "text")])
def test_the_small_data_recipes_name_only_arguments_that_exist(name, modality):
    """Checked by signature (LightningCLI's own parse imports half the library: seconds)."""
    recipe = _recipe(name)
    trainer = dict(recipe["trainer"])
    for callback in trainer.pop("callbacks"):
        _accepts(callback["class_path"], callback.get("init_args", {}))
    _accepts("lightning.pytorch.Trainer", trainer)
    for section in ("model", "data"):
        _accepts(recipe[section]["class_path"], recipe[section]["init_args"])
    from imagebind_lite.registry import get_modality

    assert set(recipe["model"]["init_args"]["modalities"]) == {modality}
    assert recipe["model"]["init_args"]["modalities"][modality] in get_modality(modality).presets()
    assert recipe["checkpoint"]["monitor"] == recipe["early_stopping"]["monitor"]
    assert recipe["checkpoint"]["monitor"].startswith(f"val/{modality}/")


@pytest.mark.parametrize("name", ["align_audio.yaml", "align_text.yaml"])
def test_the_benchmark_trains_with_the_small_data_recipes_settings(name):
    """The recipes' figures come from bench_speech.py (its audio runs and its text fit): the
    settings must not drift apart."""
    recipe = _recipe(name)
    model, data = recipe["model"]["init_args"], recipe["data"]["init_args"]
    args = script("bench_speech").parse_args([])
    assert (args.lr, args.weight_decay, args.warmup_steps) == (model["lr"], model["weight_decay"], model["warmup_steps"])
    assert (args.label_positives, args.anchor_regression) == (model["label_positives"], model["anchor_regression"])
    if name == "align_text.yaml":
        assert (args.text_batch_size, args.text_epochs) == (data["batch_size"], recipe["trainer"]["max_epochs"])
        assert args.text_preset == model["modalities"]["text"]
        return
    assert args.audio_scale == model["temperatures"]["audio"]["init"] and not model["temperatures"]["audio"]["learnable"]
    assert (args.batch_size, args.epochs) == (data["batch_size"], recipe["trainer"]["max_epochs"])
    assert model["modalities"]["audio"] == "cnn"
