"""IMU modality: csv (with/without header and time column) and npy at any rate, resampling,
ImageBind's channel-major window layout, bad input."""
import numpy as np
import pytest
import torch

import imagebind_lite as ib
from imagebind_lite.modalities.imu import ImuPaddingWarning, WindowLinear

TINY = ib.get_modality("imu").preset("tiny").data  # 50 Hz, 100 samples, inputs without times at 100 Hz
CHANNEL_HZ = np.array([0.5, 1.0, 1.5, 0.7, 1.2, 2.0])  # one slow sine per channel


def motion(times):
    """[T, 6]: gravity on z plus a slow sine on every channel."""
    values = np.sin(2 * np.pi * CHANNEL_HZ[None] * times[:, None])
    values[:, 2] += 9.81
    return values


def write_csv(path, times, values, header=None):
    table = values if times is None else np.column_stack([times, values])
    np.savetxt(path, table, delimiter=",", header=header or "", comments="", fmt="%.6f")


@pytest.fixture
def model():
    return ib.MultiModalModel.from_presets({"imu": "tiny"})


def test_csv_and_npy_layouts_agree_and_embed(model, tmp_path):
    times = np.arange(300) / 100.0  # 3 s at the presets' assumed source rate
    values = motion(times)
    write_csv(tmp_path / "timed.csv", times, values, header="timestamp,ax,ay,az,gx,gy,gz")
    write_csv(tmp_path / "bare.csv", None, values)
    write_csv(tmp_path / "named.csv", None, values, header="ax,ay,az,gx,gy,gz")
    np.save(tmp_path / "rows.npy", values.astype(np.float32))
    np.save(tmp_path / "channels.npy", values.T.astype(np.float32))
    paths = [tmp_path / n for n in ("timed.csv", "bare.csv", "named.csv", "rows.npy", "channels.npy")]
    transform = model.transform("imu")
    samples = [transform(str(p)) for p in paths]
    assert samples[0].shape == (6, TINY["num_samples"])
    for other in samples[1:]:
        assert torch.allclose(samples[0], other, atol=1e-4)
    embeddings = model.embed({"imu": paths})["imu"]
    assert embeddings.shape == (5, 128) and torch.isfinite(embeddings).all()
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(5), atol=1e-5)


@pytest.mark.parametrize("source_hz,jitter", [(200.0, 0.0), (100.0, 0.2), (31.0, 0.0)])
def test_time_column_sets_the_rate_and_the_centre_window_is_kept(model, tmp_path, source_hz, jitter):
    rng = np.random.default_rng(0)
    times = (np.arange(int(4 * source_hz)) + rng.uniform(-jitter, jitter, int(4 * source_hz))) / source_hz
    times[0], times[-1] = 0.0, (len(times) - 1) / source_hz  # the grid spans the same interval
    write_csv(tmp_path / "imu.csv", times * 1000, motion(times), header="time_ms,ax,ay,az,gx,gy,gz")
    sample = model.transform("imu")(str(tmp_path / "imu.csv"))
    total = round(len(times) * TINY["sample_rate"] / source_hz)  # samples after resampling
    start = (total - TINY["num_samples"]) // 2  # centre window, on the target-rate grid from t = 0
    expected_times = (start + np.arange(TINY["num_samples"])) / TINY["sample_rate"]
    expected = torch.from_numpy(motion(expected_times).T).float()
    assert sample.shape == (6, TINY["num_samples"])
    assert (sample - expected).abs().max() < 0.02  # resampling error of slow sines, jitter included


def test_rate_can_be_given_with_a_raw_array(model):
    times = np.arange(600) / 200.0
    transform = model.transform("imu")
    at_200 = transform((motion(times), 200))
    at_100 = transform(motion(times[::2]))  # no rate: the preset's source_rate, 100 Hz
    assert torch.allclose(at_200, at_100, atol=0.05)


def test_optional_channel_normalisation_from_the_data_config():
    spec = ib.get_modality("imu")
    values = motion(np.arange(200) / 100.0)
    plain = spec.transform(TINY)(values)
    mean = [0.0, 0.0, 9.81, 0.0, 0.0, 0.0]
    normalised = spec.transform({**TINY, "mean": mean, "std": 2.0})(values)
    assert torch.allclose(normalised, (plain - torch.tensor(mean)[:, None]) / 2.0, atol=1e-6)


def test_short_recordings_are_zero_padded_with_a_warning(model):
    with pytest.warns(ImuPaddingWarning, match="zero-padded"):
        sample = model.transform("imu")(motion(np.arange(60) / 100.0))
    assert torch.equal(sample[:, 30:], torch.zeros(6, TINY["num_samples"] - 30))
    assert sample[2, :30].mean() > 9  # gravity kept in the real part


def test_window_linear_is_channel_major_like_imagebind():
    kernel, windows = 4, 3
    x = torch.arange(6 * kernel * windows, dtype=torch.float32).reshape(1, 6, kernel * windows)
    layer = WindowLinear(6, kernel, 6 * kernel)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(6 * kernel))
    tokens = layer(x)
    assert tokens.shape == (1, windows, 6 * kernel)
    for window in range(windows):  # value c * kernel + i of token j is x[c, j * kernel + i]
        expected = x[0, :, window * kernel:(window + 1) * kernel].reshape(-1)
        assert torch.equal(tokens[0, window], expected)


def test_imagebind_huge_stem_matches_imagebinds():
    config = ib.get_modality("imu").preset("imagebind_huge")
    stem = ib.get_modality("imu").build_stem(config)
    assert stem(torch.zeros(2, 6, 2000)).shape == (2, 1 + 250, 512)
    assert stem.proj.weight.shape == (512, 48) and stem.proj.bias is None and stem.norm.eps == 1e-5


def test_backward_through_the_encoder():
    encoder = ib.create_encoder("imu/tiny").train()
    spec = ib.get_modality("imu")
    transform = spec.transform(encoder.data_config)
    batch = spec.collate([transform(motion(np.arange(200) / 100.0 + s)) for s in range(3)])
    embeddings = encoder(batch)
    (embeddings @ embeddings.T).triu(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in encoder.parameters())
    assert encoder.stem.proj.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name,text,match", [
    ("five.csv", "1,2,3,4,5\n" * 20, "expected 6 data columns"),
    ("seven.csv", "0,1,2,3,4,5,6\n" * 20, "time column needs a header"),
    ("backwards.csv", "t,ax,ay,az,gx,gy,gz\n" + "".join(f"{-i},1,2,3,4,5,6\n" for i in range(20)), "increasing"),
    ("words.csv", "ax,ay,az,gx,gy,gz\n1,2,3,four,5,6\n", "cannot decode"),
    ("empty.csv", "", "empty"),
])
def test_bad_files_name_the_file_and_modality(model, tmp_path, name, text, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(ib.ImageBindLiteError, match=match) as info:
        model.embed({"imu": [tmp_path / name]})
    assert name in str(info.value) and "'imu'" in str(info.value)


@pytest.mark.parametrize("bad,match", [
    (np.ones((100, 5)), "6 channels"),
    (np.ones((7, 100)), "6 channels"),
    (np.ones((2, 6, 100)), "6 channels"),
    (np.where(np.arange(600).reshape(100, 6) == 7, np.nan, 1.0), "NaN or inf"),
    (np.full((100, 6), np.inf), "NaN or inf"),
    ((np.ones((100, 6)), -5), "sample rate"),
    ((np.ones((100, 6)), "fast"), "sample rate"),
])
def test_bad_arrays_are_input_errors(model, bad, match):
    with pytest.raises(ib.InputError, match=match):
        model.embed({"imu": [bad]})


@pytest.mark.slow
def test_stem_matches_imagebinds_imu_preprocessor():
    """Same tokens as ImageBind's IMUPreprocessor with the weights mapped one to one (test-only
    reference from ``imagebind-unofficial``; see tests/install_reference_impl.sh)."""
    from reference_impl import import_reference

    mp = import_reference("imagebind.models.multimodal_preprocessors")
    config = ib.get_modality("imu").preset("imagebind_huge")
    ours = ib.get_modality("imu").build_stem(config)
    stem = mp.PatchEmbedGeneric([torch.nn.Linear(48, 512, bias=False)], norm_layer=torch.nn.LayerNorm(512))
    theirs = mp.IMUPreprocessor(kernel_size=8, imu_stem=stem, embed_dim=512, img_size=[6, 2000],
                                num_cls_tokens=1, pos_embed_fn=lambda **kwargs: None)
    ours.load_state_dict({"proj.weight": stem.proj.weight, "norm.weight": stem.norm_layer.weight,
                          "norm.bias": stem.norm_layer.bias, "cls_token": theirs.cls_token,
                          "pos_embed": theirs.pos_embed})
    x = torch.randn(2, 6, 2000)
    assert torch.allclose(ours(x), theirs(imu=x)["trunk"]["tokens"], atol=1e-5)
