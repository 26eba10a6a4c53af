"""Training-time augmentation: each option changes the training tensor and never the eval one,
draws repeat with the seed, the input cache keeps signals and augments after them, and a
typo in the config is a clear error."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from training_helpers import TINY_WORLD, module, trainer, world_data, write_thermal_manifest

from imagebind_lite.errors import InputError
from imagebind_lite.registry import get_modality
from imagebind_lite.training import PairDataModule
from imagebind_lite.training.datasets import Draw

REPO = Path(__file__).resolve().parents[1]

ONE_AT_A_TIME = [
    ("audio", {"gain_db": 6}), ("audio", {"speed": [0.8, 0.9]}), ("audio", {"shift_s": 0.3}),
    ("audio", {"random_crop_s": 1.2}), ("audio", {"noise_snr_db": [5, 10]}), ("audio", {"time_mask": 30}),
    ("audio", {"freq_mask": 12}),
    ("vision", {"crop_scale": [0.3, 0.6]}), ("vision", {"hflip": 1.0}),
    ("depth", {"crop_scale": [0.3, 0.6]}), ("depth", {"hflip": 1.0}),
    ("thermal", {"crop_scale": [0.3, 0.6]}), ("thermal", {"hflip": 1.0}),
]


def _example(name: str):
    spec = get_modality(name)
    data = spec.preset("tiny").data
    return spec, data, spec.load(spec.example_input(data, np.random.default_rng(0)))


@pytest.mark.parametrize("name, options", ONE_AT_A_TIME, ids=lambda v: v if isinstance(v, str) else next(iter(v)))
def test_each_augmentation_changes_the_training_tensor_only(name, options):
    spec, data, raw = _example(name)
    plain = spec.transform(data)(raw)
    augmented = spec.augmented(data, spec.augmenter(options))
    first = augmented(raw, np.random.default_rng(7))
    assert first.shape == plain.shape and torch.isfinite(first).all()
    assert not torch.allclose(first, plain, atol=1e-4), "the augmentation changed nothing"
    torch.testing.assert_close(augmented(raw, np.random.default_rng(7)), first, rtol=0, atol=0)  # same seed
    torch.testing.assert_close(spec.transform(data)(raw), plain, rtol=0, atol=0)  # eval untouched


def test_audio_noise_files_are_mixed_at_the_asked_snr(tmp_path):
    rate = 8000  # not the encoder's: the noise is resampled
    (tmp_path / "noise").mkdir()
    soundfile.write(tmp_path / "noise" / "hum.wav", 0.3 * np.sin(np.arange(rate // 2) * 0.05), rate)
    spec, data, raw = _example("audio")
    augmenter = spec.augmenter({"noise_dir": str(tmp_path / "noise"), "noise_snr_db": [0, 0]})
    wave = spec.to_signal(raw, data, "example")
    noisy = augmenter.signal(wave, data, np.random.default_rng(0))
    added = noisy - wave
    assert np.mean(added ** 2) == pytest.approx(np.mean(wave ** 2), rel=1e-3)  # 0 dB: equal powers
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="noise_dir holds no audio file"):
        spec.augmenter({"noise_dir": str(tmp_path / "empty")})


def _bound(data_module: PairDataModule, pairs=("thermal",)) -> PairDataModule:
    model = module(pairs=pairs)
    data_module.bind(model.pivot, model.data_configs())
    data_module.setup("fit")
    return data_module


def test_validation_and_pivot_inputs_stay_deterministic():
    data = _bound(world_data(train_size=8, val_size=8, use_pivot_cache=False,
                             augment={"thermal": {"crop_scale": [0.3, 0.6], "hflip": 0.5}}))
    train, val = data.train_sets["thermal"], data.val_sets["thermal"]
    assert val.augment is None
    one, two = train[Draw(3, 0, 0)], train[Draw(3, 1, 0)]
    assert not torch.equal(one["thermal"], two["thermal"])  # a new draw each epoch
    torch.testing.assert_close(one["pivot"], two["pivot"], rtol=0, atol=0)  # the pivot is never augmented
    plain = get_modality("thermal").transform(data._data_configs["thermal"])
    torch.testing.assert_close(val[3]["thermal"], plain(val.raw_item(3, "thermal")), rtol=0, atol=0)


def _first_batch(data: PairDataModule, epoch: int = 0):
    loader = data.train_dataloader().iterables["thermal"]
    loader.set_epoch(epoch)
    return next(iter(loader))["thermal"]


def test_same_seed_same_batches_whatever_the_workers():
    options = {"thermal": {"crop_scale": [0.3, 0.6], "hflip": 0.5}}
    first = _bound(world_data(train_size=16, augment=options, seed=3))
    again = _bound(world_data(train_size=16, augment=options, seed=3, num_workers=1))
    torch.testing.assert_close(_first_batch(first), _first_batch(again), rtol=0, atol=0)
    other_seed = _bound(world_data(train_size=16, augment=options, seed=4))
    assert not torch.equal(_first_batch(first), _first_batch(other_seed))


def test_a_resumed_run_sees_the_augmentations_an_uninterrupted_one_would():
    options = {"thermal": {"crop_scale": [0.3, 0.6], "hflip": 0.5}}
    loader = _bound(world_data(train_size=24, augment=options)).train_dataloader().iterables["thermal"]
    loader.set_epoch(1)
    first, second = list(loader)[:2]
    resumed = _bound(world_data(train_size=24, augment=options)).train_dataloader().iterables["thermal"]
    resumed.resume_from(first["cursor"])
    torch.testing.assert_close(next(iter(resumed))["thermal"], second["thermal"], rtol=0, atol=0)


def test_cached_inputs_keep_the_signal_and_augment_after_it(monkeypatch):
    data = _bound(world_data(train_size=8, cache_inputs=True, augment={"audio": {"gain_db": 6, "time_mask": 20}}),
                  pairs=("audio",))
    dataset = data.train_sets["audio"]
    assert isinstance(dataset.input_cache[0], np.ndarray)  # the resampled waveform, not the fbank

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again after the cache")

    monkeypatch.setattr(type(get_modality("audio")), "to_signal", no_decoding)
    epoch0, epoch1 = dataset[Draw(2, 0, 0)]["audio"], dataset[Draw(2, 1, 0)]["audio"]
    assert epoch0.shape == epoch1.shape and not torch.equal(epoch0, epoch1)
    torch.testing.assert_close(dataset[Draw(2, 1, 0)]["audio"], epoch1, rtol=0, atol=0)


def test_several_positives_per_image_are_augmented_from_the_cache(tmp_path):
    manifest = write_thermal_manifest(tmp_path, n=8)
    rows = list(csv.DictReader(manifest.open()))
    rows[1]["vision"] = rows[0]["vision"]  # image 0 has two thermal positives
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    data = _bound(PairDataModule(manifests={"thermal": str(manifest)}, batch_size=4, cache_inputs=True,
                                 positives="all", augment={"thermal": {"crop_scale": [0.3, 0.6]}}))
    dataset = data.train_sets["thermal"]
    assert len(dataset) == 7 and len(dataset.input_cache[0]) == 2
    one, two = dataset[Draw(0, 0, 0)]["thermal"], dataset[Draw(0, 1, 0)]["thermal"]
    assert len(one) == 2 and not torch.equal(one[0], two[0])


@pytest.mark.parametrize("augment, message", [
    ({"audio": {"gain_bd": 6}}, r"modality 'audio'.*unknown augmentation 'gain_bd'.*gain_db"),
    ({"audio": {"mixup": 0.4}}, r"'mixup' is not offered: the alignment losses take one-hot"),
    ({"audio": {"speed": 1.1}}, r"'speed' must be \[low, high\]"),
    ({"depth": {"hflip": 2}}, r"modality 'depth'.*probability"),
    ({"text": {"templates": ["a photo of {}"]}}, r"modality 'text'.*positives: sample"),
    ({"imu": {"gain_db": 3}}, r"modality 'imu'.*offers no augmentation"),
])
def test_config_typos_are_clear_errors_naming_the_modality(augment, message):
    with pytest.raises(InputError, match=message):
        world_data(augment=augment)


def test_the_frozen_pivot_and_untrained_modalities_cannot_be_augmented():
    with pytest.raises(InputError, match="frozen pivot: its inputs stay deterministic"):
        _bound(world_data(augment={"vision": {"hflip": True}}))
    with pytest.raises(InputError, match="augment names 'depth', which is not a trained pair"):
        _bound(world_data(augment={"depth": {"hflip": True}}))


def test_a_short_fit_with_augmentation_runs_from_the_cli(tmp_path, monkeypatch):
    from imagebind_lite.cli import main

    monkeypatch.chdir(tmp_path)
    config = REPO / "configs" / "world" / "align_audio.yaml"
    main(["fit", "--config", str(config), "--trainer.max_steps=2", "--trainer.enable_progress_bar=false",
          "--model.init_args.pivot=vision/tiny", f"--data.init_args.world.num_concepts={TINY_WORLD.num_concepts}",
          "--data.init_args.train_size=16", "--data.init_args.val_size=8", "--data.init_args.batch_size=8",
          "--data.init_args.augment={audio: {gain_db: 6, speed: [0.9, 1.1], noise_snr_db: [10, 30], "
          "time_mask: 10, freq_mask: 4}}"])
    resolved = next((tmp_path / "runs" / "world" / "align_audio").glob("lightning_logs/version_*/config.yaml"))
    assert "gain_db: 6" in resolved.read_text()


def test_fit_with_augmentation_trains(tmp_path):
    run = trainer(tmp_path, max_steps=2)
    run.fit(module(pairs=("thermal", "depth")),
            world_data(train_size=16, cache_inputs=True,
                       augment={"thermal": {"crop_scale": [0.5, 1.0], "hflip": 0.5}, "depth": {"hflip": 0.5}}))
    assert run.global_step == 2


class _GlobalDraws(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> float:
        return float(np.random.random())  # numpy's global generator, as third-party code may use


def _as_batch(items):
    return {"x": items}


def _first_global_draw(rank: int) -> float:
    from imagebind_lite.training.data_order import PairLoader

    torch.manual_seed(0)  # every rank's main process is seeded alike
    loader = PairLoader(_GlobalDraws(), batch_size=1, collate_fn=_as_batch, shuffle=False, num_workers=1,
                        drop_last=False, rank=rank, world_size=2)
    return next(iter(loader))["x"][0]


def test_loader_workers_of_each_rank_get_their_own_global_generators():
    assert _first_global_draw(0) == _first_global_draw(0)
    assert _first_global_draw(0) != _first_global_draw(1)
