"""Other anchors than the image pivot: a frozen text anchor, and a trained one (direct baselines)."""
import pytest
import torch

import imagebind_lite
from imagebind_lite.data.world import SyntheticWorld, write_world
from imagebind_lite.training import AlignmentModule, ExportSavedModel, PairDataModule

from training_helpers import TINY_WORLD, trainer


def _audio_text_manifest(tmp_path):
    return write_world(SyntheticWorld(TINY_WORLD), tmp_path / "world", sizes={"audio_text": 24},
                       progress=False)["audio_text"]


def _snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_frozen_text_anchor_trains_audio_only(tmp_path):
    module = AlignmentModule(pivot="text/tiny", pivot_modality="text", modalities={"audio": "tiny"},
                             warmup_steps=1, total_steps=5)
    data = PairDataModule(manifests={"audio": str(_audio_text_manifest(tmp_path))}, batch_size=8)
    before = _snapshot(module.pivot)
    trainer(tmp_path, max_steps=2).fit(module, data)
    assert all(torch.equal(before[k], v) for k, v in module.pivot.state_dict().items())
    assert module.data_configs().keys() == {"text", "audio"}


def test_trained_anchor_is_the_symmetric_direct_baseline(tmp_path):
    module = AlignmentModule(pivot="text/tiny", pivot_modality="text", train_pivot=True,
                             modalities={"audio": "tiny"}, warmup_steps=1, total_steps=5)
    data = PairDataModule(manifests={"audio": str(_audio_text_manifest(tmp_path))}, batch_size=8,
                          use_pivot_cache=False)
    before = _snapshot(module.pivot)
    export = tmp_path / "direct"
    trainer(tmp_path, max_steps=2, callbacks=[ExportSavedModel(str(export))]).fit(module, data)
    assert any(not torch.equal(before[k], v) for k, v in module.pivot.state_dict().items())
    assert sorted(imagebind_lite.load_model(export).modalities) == ["audio", "text"]


def test_a_trained_anchor_refuses_the_pivot_cache(tmp_path):
    module = AlignmentModule(pivot="text/tiny", pivot_modality="text", train_pivot=True,
                             modalities={"audio": "tiny"})
    data = PairDataModule(manifests={"audio": str(_audio_text_manifest(tmp_path))}, batch_size=8)
    with pytest.raises(imagebind_lite.ImageBindLiteError, match="use_pivot_cache"):
        trainer(tmp_path, max_steps=1).fit(module, data)
