"""Thermal: 8- and 16-bit single-channel files, in-memory arrays, bad input."""
import numpy as np
import pytest
import torch
from PIL import Image

import imagebind_lite as ib


@pytest.fixture(scope="module")
def model():
    return ib.MultiModalModel.from_presets({"thermal": "tiny"})


def _write(tmp_path):
    rng = np.random.default_rng(0)
    paths = {"8bit.png": rng.integers(0, 255, (48, 64), dtype=np.uint8),
             "16bit.png": rng.integers(0, 65535, (50, 40), dtype=np.uint16),
             "radiometric.npy": rng.normal(0.3, 0.1, (40, 40)).astype(np.float32)}
    for name, array in paths.items():
        path = tmp_path / name
        if name.endswith(".npy"):
            np.save(path, array)
        else:
            Image.fromarray(array).save(path)  # uint8 -> mode L, uint16 -> mode I;16
    return [tmp_path / name for name in paths]


def test_files_load_embed_and_backprop(model, tmp_path):
    paths = _write(tmp_path)
    embeddings = model.embed({"thermal": paths})["thermal"]
    assert embeddings.shape == (3, 128) and torch.isfinite(embeddings).all()
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(3), atol=1e-5)
    transform = model.transform("thermal")
    batch = torch.stack([transform(p) for p in paths])
    assert batch.shape == (3, 1, 32, 32)
    model.train()
    model({"thermal": batch})["thermal"].sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_bit_depth_is_scaled_to_unit_range():
    spec = ib.get_modality("thermal")
    eight = spec.validate(np.full((4, 4), 255, np.uint8), "x")
    sixteen = spec.validate(np.full((4, 4), 65535, np.uint16), "x")
    assert eight.max() == pytest.approx(1.0) and sixteen.max() == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.full((8, 8), np.nan, np.float32)])
def test_bad_arrays_raise_naming_the_modality(model, bad):
    with pytest.raises(ib.ImageBindLiteError, match="thermal"):
        model.embed({"thermal": [bad]})


def test_corrupt_and_empty_files_name_the_file(model, tmp_path):
    corrupt, empty = tmp_path / "corrupt.png", tmp_path / "empty.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    empty.write_bytes(b"")
    for path in (corrupt, empty):
        with pytest.raises(ib.InputError, match=f"thermal.*{path.name}"):
            model.embed({"thermal": [path]})
