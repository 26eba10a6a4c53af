"""ImageBind's recipe around a CLIP-family model, end to end through the public path.

The recipe config (``configs/clip_family/hf_clip_align_audio.yaml``) run by ``imagebind-lite fit``
on a tiny random-weight Hugging Face CLIP: its image tower is the frozen pivot, its text tower
rides along frozen, audio trains against the images only. The exported model then answers
``imagebind-lite evaluate``'s audio -> text zero-shot through the untouched text tower.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from tower_helpers import make_tiny_hf

import imagebind_lite as ib
from imagebind_lite.cli import main

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "clip_family" / "hf_clip_align_audio.yaml"


def test_fit_then_evaluate_audio_to_text_through_the_frozen_text_tower(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    clip = make_tiny_hf(tmp_path / "tiny_clip", "clip")
    main(["world", "world", "--sizes", "audio=16,eval=12", "--num-concepts", "4", "--no-progress"])
    towers = f"{{vision: {{trunk: {{hf_clip_path: {clip}}}}}, text: {{trunk: {{hf_clip_path: {clip}}}}}}}"
    main(["fit", "--config", str(RECIPE), f"--model.init_args.encoder_overrides={towers}",
          "--model.init_args.warmup_steps=1", "--data.init_args.manifests={audio: world/pairs/audio/manifest.csv}",
          "--data.init_args.val_manifests=null", "--data.init_args.batch_size=8", "--data.init_args.num_workers=0",
          "--trainer.accelerator=cpu", "--trainer.devices=1", "--trainer.precision=32-true", "--trainer.max_steps=2",
          "--trainer.enable_progress_bar=false", "--trainer.logger=false"])
    exported = tmp_path / "runs" / "hf_clip_audio" / "model"
    shutil.rmtree(clip)  # the exported model must not need the directory it came from

    model = ib.load_model(exported)
    assert sorted(model.modalities) == ["audio", "text", "vision"] and model.embed_dim == 16
    assert list((tmp_path / ".cache" / "hf_clip_pivot").glob("pivot-train-audio-*.safetensors"))
    fresh = ib.create_encoder("text/hf_clip", trunk={"hf_clip_path": str(make_tiny_hf(tmp_path / "again", "clip"))})
    for key, value in fresh.state_dict().items():  # the same seed: the text tower was never trained
        assert torch.equal(model.encoder("text").state_dict()[key], value), key

    capsys.readouterr()
    main(["evaluate", "--model", str(exported), "--manifest", "world/eval/manifest.csv", "--prompts", "world/world.json",
          "--out", "eval", "--no-progress"])
    printed = capsys.readouterr().out
    assert "zero-shot audio" in printed and "zero-shot vision" in printed
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert "audio" in json.dumps(metrics["zero_shot"])
