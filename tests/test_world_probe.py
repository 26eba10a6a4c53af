"""The world is neither trivial nor impossible: a linear probe on raw features beats
chance clearly and stays below saturation in every modality, and tempo, which has no visual
correlate, is read from audio and IMU but not from the image. Numbers are reported by
benchmarks/probe_world.py."""
from __future__ import annotations

import pytest

from imagebind_lite.data.world import SyntheticWorld, WorldConfig
from imagebind_lite.data.world.probe import probe_world

MODALITIES = ("vision", "text", "audio", "depth", "thermal", "imu")


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld(WorldConfig(num_concepts=16, seed=0))


@pytest.mark.slow
def test_concepts_are_learnable_but_not_trivial_in_every_modality(world):
    acc = probe_world(world, train=1500, test=500, target="label")
    for m in MODALITIES:
        assert 2 * acc["chance"] < acc[m] < 0.95, (m, acc)


@pytest.mark.slow
def test_tempo_is_heard_and_felt_but_not_seen(world):
    acc = probe_world(world, train=1200, test=400, target="tempo_bin",
                      modalities=("vision", "depth", "audio", "imu"))
    assert acc["vision"] < acc["chance"] + 0.1 and acc["depth"] < acc["chance"] + 0.1, acc
    assert acc["audio"] > 0.8 and acc["imu"] > 0.8, acc


def test_probe_separates_a_trivially_separable_modality_quickly(world):
    """Fast guard on the probe itself: on a handful of samples, audio (which carries pitch
    bands) is already far above chance, so a broken probe or a broken world shows up."""
    acc = probe_world(world, train=160, test=64, target="label", modalities=("audio",), lam=30.0)
    assert acc["audio"] > 3 * acc["chance"], acc
