"""``label_positives``: samples of one class in a batch are positives of each other. The
module's loss against the loss function on the same embeddings, the settings it refuses, and
real fits on labelled manifests (one row per image, several captions per image). Exactness
under DDP (classes spanning the ranks) is in test_losses_ddp_scale.py."""
from __future__ import annotations

import pytest
import torch
from training_helpers import module, trainer, write_caption_manifest, write_thermal_manifest

from imagebind_lite.errors import InputError
from imagebind_lite.losses import multi_positive_infonce, symmetric_infonce
from imagebind_lite.training import AlignmentModule, PairDataModule


def _pair(labels):
    gen = torch.Generator().manual_seed(0)
    n = len(labels)
    return {"ids": torch.arange(n).numpy(), "labels": torch.tensor(labels), "skipped": [],
            "pivot_emb": torch.randn(n, 128, generator=gen), "thermal": torch.rand(n, 1, 32, 32, generator=gen)}


def test_the_pair_loss_takes_same_label_samples_as_positives():
    torch.manual_seed(0)
    on, off = module(label_positives=True), module()
    off.load_state_dict(on.state_dict())
    pair = _pair([0, 1, 0, 2, 1, 0])
    with torch.no_grad():
        pivot, thermal = on.pair_embeddings("thermal", pair)
        scale = on.temperatures["thermal"].scale
        by_label = multi_positive_infonce(thermal, pivot, torch.arange(6), scale, labels=pair["labels"])
        plain = symmetric_infonce(thermal, pivot, scale)
        assert on.pair_loss("thermal", pair).loss.item() == pytest.approx(by_label.item(), abs=1e-6)
        assert off.pair_loss("thermal", pair).loss.item() == pytest.approx(plain.item(), abs=1e-6)
        assert abs(by_label.item() - plain.item()) > 1e-3
        # all labels distinct or missing: the same as the plain loss
        assert on.pair_loss("thermal", _pair([-1] * 6)).loss.item() == pytest.approx(
            off.pair_loss("thermal", _pair([-1] * 6)).loss.item(), abs=1e-6)


def test_a_mapping_switches_pairs_on_one_by_one():
    model = module(pairs=("thermal", "depth"), label_positives={"thermal": True, "depth": False})
    assert model.objectives["thermal"].label_positives and not model.objectives["depth"].label_positives
    both = module(pairs=("thermal", "depth"), label_positives=True)
    assert both.objectives["thermal"].label_positives and both.objectives["depth"].label_positives


@pytest.mark.parametrize("kwargs, match", [
    ({"label_positives": {"audio": True}}, "not aligned"),
    ({"label_positives": True, "loss": {"thermal": "sigmoid"}}, "InfoNCE"),
    ({"label_positives": "yes"}, "true, false"),
])
def test_settings_it_cannot_honour_are_refused(kwargs, match):
    with pytest.raises(InputError, match=match):
        module(**kwargs)


def test_fit_on_a_labelled_manifest(tmp_path):
    manifest = write_thermal_manifest(tmp_path, n=12)
    model = module(label_positives=True)
    data = PairDataModule(manifests={"thermal": str(manifest)}, batch_size=6, cache_inputs=True)
    run = trainer(tmp_path, max_steps=4)
    run.fit(model, data)
    assert run.global_step == 4 and torch.isfinite(run.callback_metrics["train/thermal/loss"])


def test_fit_with_several_captions_per_image_and_labels(tmp_path):
    manifest = write_caption_manifest(tmp_path, "rows")
    model = AlignmentModule(pivot="vision/tiny", modalities={"text": "tiny"}, warmup_steps=1, total_steps=4,
                            label_positives=True)
    data = PairDataModule(manifests={"text": str(manifest)}, batch_size=4, positives="all", cache_inputs=True)
    run = trainer(tmp_path, max_steps=4)
    run.fit(model, data)
    assert run.global_step == 4 and torch.isfinite(run.callback_metrics["train/text/loss"])


def test_a_batch_without_labels_is_a_clear_error():
    pair = _pair([0, 1, 0, 2, 1, 0])
    del pair["labels"]
    with pytest.raises(InputError, match="a `label` column"):
        module(label_positives=True).pair_loss("thermal", pair)
