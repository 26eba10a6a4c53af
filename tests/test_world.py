"""Synthetic world: determinism, labels consistent across modalities, disjoint collections,
Dataset behaviour and input errors. Sizes are tiny: the whole file runs in seconds."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from imagebind_lite.data.world import COLLECTIONS, SyntheticWorld, WorldConfig
from imagebind_lite.errors import InputError

K = 16


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld(WorldConfig(num_concepts=K, seed=0))


def _instances(world, label, count, collection="eval"):
    """The first ``count`` eval instances of concept ``label`` (labels cycle with the index)."""
    return [world.sample(collection, label + j * len(world.concepts)) for j in range(count)]


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key
        else:
            assert a[key] == b[key], key


def test_eval_sample_has_all_six_modalities_with_raw_formats(world):
    s = world.sample("eval", 3)
    c = world.config
    assert s["id"] == "eval-000003" and s["concept"] == world.class_names[s["label"]]
    assert s["vision"].shape == (c.image_size, c.image_size, 3) and s["vision"].dtype == np.uint8
    assert s["depth"].shape == (c.image_size, c.image_size) and s["depth"].dtype == np.float32
    assert 0.5 < s["depth"].min() and s["depth"].max() < 8.0  # metres, indoor range
    assert s["thermal"].shape == (c.image_size, c.image_size) and s["thermal"].dtype == np.uint8
    assert s["audio"].shape == (c.audio_samples,) and s["audio"].dtype == np.float32
    assert np.abs(s["audio"]).max() <= 1.0
    assert s["imu"].shape == (c.imu_samples, 6) and s["imu"].dtype == np.float32
    assert isinstance(s["text"], str) and s["text"]
    assert set(world.attribute_names()) <= set(s["attributes"])
    assert "tempo" in world.nonvisual_attributes()


@pytest.mark.parametrize("collection", ["text", "audio", "depth", "thermal", "imu"])
def test_pair_collections_carry_vision_and_their_modality_only(world, collection):
    s = world.sample(collection, 0)
    assert set(s) == {"id", "label", "concept", "attributes", "vision", collection}


def test_same_seed_same_bytes_and_different_seed_differs(world):
    again = SyntheticWorld(WorldConfig(num_concepts=K, seed=0))
    for collection in COLLECTIONS:
        _assert_same(world.sample(collection, 7), again.sample(collection, 7))
    other = SyntheticWorld(WorldConfig(num_concepts=K, seed=1)).sample("eval", 7)
    same = world.sample("eval", 7)
    for m in ("vision", "depth", "thermal", "audio", "imu"):
        assert other[m].tobytes() != same[m].tobytes(), m


def test_collections_share_no_instances(world):
    seen_ids, seen_content = set(), set()
    for collection in COLLECTIONS:
        for i in range(12):
            s = world.sample(collection, i)
            seen_ids.add(s["id"])
            # the audio_text collection has no image: compare its sounds instead
            seen_content.add(s["vision"].tobytes() if "vision" in s else s["audio"].tobytes())
    assert len(seen_ids) == len(seen_content) == 12 * len(COLLECTIONS)


def test_concepts_share_factors_but_not_combinations(world):
    looks = [(c.colour, c.shape, c.texture) for c in world.concepts]
    assert len(set(looks)) == K
    for i in range(2):  # every colour and every shape used by at least two concepts
        values = [look[i] for look in looks]
        assert min(values.count(v) for v in set(values)) >= 2
    for group in (("shape", "form", "bulk"), ("shape", "heat_profile", "heat_level")):
        assert len({tuple(getattr(c, f) for f in group) for c in world.concepts}) == K, group
    from imagebind_lite.data.world.catalogue import CATALOGUE

    big = SyntheticWorld(num_concepts=len(CATALOGUE))  # the whole catalogue still gets distinct looks
    assert len({(c.colour, c.shape, c.texture) for c in big.concepts}) == len(CATALOGUE) >= 64


def test_larger_instances_are_nearer_in_depth_and_louder(world):
    label = next(c.label for c in world.concepts if c.shape in ("round", "square", "hexagonal", "diamond"))
    samples = _instances(world, label, 24)
    size = np.array([s["attributes"]["size"] for s in samples])
    side = world.config.image_size
    centre = []
    for s in samples:  # depth at the object's centre pixel
        col, row = ((np.array([s["attributes"]["x"], s["attributes"]["y"]]) + 1) / 2 * side).astype(int)
        centre.append(s["depth"][row, col])
    assert np.corrcoef(size, centre)[0, 1] < -0.9
    loudness = [np.sqrt(np.mean(s["audio"] ** 2)) for s in samples]
    assert np.corrcoef(size, loudness)[0, 1] > 0.5


def test_sound_sits_in_the_concept_pitch_range(world):
    rate = world.config.sample_rate
    for label in range(K):
        for s in _instances(world, label, 3):
            spectrum = np.abs(np.fft.rfft(s["audio"]))
            peak = np.argmax(spectrum) * rate / len(s["audio"])
            lo, hi = world.concepts[label].pitch_range
            assert lo <= peak <= hi, (world.concepts[label].name, peak)
            assert abs(peak / s["attributes"]["pitch"] - 1) < 0.05


def test_imu_frequency_follows_tempo(world):
    rate, pad = world.config.imu_rate, 4096
    for i in range(2 * K):
        s = world.sample("eval", i)
        imu = s["imu"] - s["imu"].mean(axis=0)
        power = (np.abs(np.fft.rfft(imu, n=pad, axis=0)) ** 2).sum(axis=1)
        peak = (np.argmax(power[1:]) + 1) * rate / pad
        assert abs(peak - s["attributes"]["tempo"]) < 0.25, (s["id"], peak, s["attributes"]["tempo"])


def test_thermal_shows_heat_where_the_object_is(world):
    hot = [c.label for c in world.concepts if c.heat_level in ("hot", "scorching")
           and c.heat_profile in ("uniform", "hot core") and c.shape != "ring"]
    cold = [c.label for c in world.concepts if c.heat_level == "cold" and c.shape != "ring"]
    assert hot and cold, "seed 0 should have hot and cold solid concepts"
    side = world.config.image_size

    def centre_minus_median(s):
        col, row = ((np.array([s["attributes"]["x"], s["attributes"]["y"]]) + 1) / 2 * side).astype(int)
        patch = s["thermal"][row - 1:row + 2, col - 1:col + 2].astype(float)
        return patch.mean() - np.median(s["thermal"])

    assert all(centre_minus_median(s) > 10 for s in _instances(world, hot[0], 6))
    for label in cold:
        assert all(centre_minus_median(s) < 0 for s in _instances(world, label, 6))


def test_captions_name_concepts_with_synonyms_and_prompts_cover_classes(world):
    texts = [(s["text"], world.concepts[s["label"]]) for s in (world.sample("text", i) for i in range(64))]
    named = [t for t, c in texts if any(n in t for n in c.names)]
    assert 0.3 * len(texts) < len(named) < len(texts)  # some captions only describe
    assert any(c.synonyms[0] in t or c.synonyms[1] in t for t, c in texts)
    prompts = world.class_prompts()
    assert list(prompts) == world.class_names
    assert all(len(p) >= 3 and all(isinstance(x, str) for x in p) for p in prompts.values())
    assert set(world.attribute_prompts("tempo_bin")) == set(world.attribute_classes()["tempo_bin"])


def test_dataset_is_on_the_fly_and_picklable(world):
    ds = world.dataset("audio", 5)
    assert len(ds) == 5
    _assert_same(ds[2], world.sample("audio", 2))
    clone = pickle.loads(pickle.dumps(ds))
    _assert_same(clone[4], world.sample("audio", 4))
    with pytest.raises(IndexError):
        ds[5]
    labelled = world.dataset("text", 3, transform=lambda s: s["label"])
    assert [labelled[i] for i in range(3)] == [0, 1, 2]


def test_bad_input_raises_input_error(world):
    with pytest.raises(InputError, match="collection"):
        world.sample("smell", 0)
    with pytest.raises(InputError):
        world.sample("eval", -1)
    with pytest.raises(InputError):
        WorldConfig(num_concepts=10_000)
    with pytest.raises(InputError):
        WorldConfig(tempo_range=(3.0, 1.0))


def test_config_roundtrips_and_image_size_follows_config():
    cfg = WorldConfig(num_concepts=8, seed=3, image_size=32, sample_rate=8000, audio_seconds=1.0,
                      imu_rate=50, imu_seconds=1.0, thermal_bits=16)
    assert WorldConfig.from_dict(cfg.to_dict()) == cfg
    s = SyntheticWorld(cfg).sample("eval", 0)
    assert s["vision"].shape == (32, 32, 3) and s["audio"].shape == (8000,)
    assert s["imu"].shape == (50, 6) and s["thermal"].dtype == np.uint16
    assert 273.15 * 100 < np.median(s["thermal"]) < 313.15 * 100  # centi-kelvin, room temperature


def test_config_for_encoders_follows_their_data_configs():
    tiny = {"vision": {"image_size": 32}, "depth": {"image_size": 48},
            "audio": {"sample_rate": 16000, "clip_duration": 1.0},
            "imu": {"sample_rate": 50, "num_samples": 100, "source_rate": 100}}
    cfg = WorldConfig.for_encoders(tiny, num_concepts=8)
    assert (cfg.image_size, cfg.sample_rate, cfg.imu_rate, cfg.num_concepts) == (48, 16000, 100, 8)
    huge = {"vision": {"image_size": 224}, "audio": {"sample_rate": 16000, "clip_duration": 2.0},
            "imu": {"sample_rate": 200, "num_samples": 2000, "source_rate": 200}}
    cfg = WorldConfig.for_encoders(huge)
    assert cfg.image_size == 224 and cfg.imu_samples == 2000 and cfg.audio_seconds == 2.0
