"""A user adds a tactile-sensor modality in one short block, through the decorator only."""
import numpy as np
import pytest
import torch

import imagebind_lite as ib
from imagebind_lite.layers import PatchStem


# ---- the user's whole modality: well under 50 lines -----------------------------------------
@ib.register_modality("tactile")
class Tactile(ib.ModalitySpec):
    """A 4x4 taxel pressure grid over time, stored as .npy [T, 16]."""

    extensions = (".npy",)

    def presets(self):
        return {"tiny": ib.EncoderConfig("tactile", embed_dim=128, width=32, depth=1, num_heads=2,
                                         data={"num_frames": 20})}

    def read_file(self, path):
        return np.load(path, allow_pickle=False)

    def validate(self, raw, source):
        raw = np.asarray(raw, dtype=np.float32)
        if raw.ndim != 2 or raw.shape[1] != 16:
            raise ib.InputError(f"expected [T, 16] taxels, got {raw.shape}", modality=self.name, source=source)
        return raw

    def to_tensor(self, raw, data, source):
        frames = torch.from_numpy(raw)[: data["num_frames"]]
        return torch.nn.functional.pad(frames, (0, 0, 0, data["num_frames"] - len(frames)))

    def build_stem(self, config):
        return PatchStem(torch.nn.Linear(16, config.width), config.data["num_frames"], config.width, input_ndim=2)

    def example_input(self, data, rng):  # lets the registry-wide tests check this modality too
        return rng.random((data["num_frames"] - 3, 16), dtype=np.float32)
# ----------------------------------------------------------------------------------------------


def test_registered_and_listed():
    assert "tactile" in ib.list_modalities()
    assert ib.get_modality("tactile").preset("tiny").modality == "tactile"


def test_embeds_files_and_trains(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"touch{i}.npy")
        np.save(paths[-1], np.random.rand(15 + i, 16).astype(np.float32))
    model = ib.MultiModalModel.from_presets({"tactile": "tiny"})
    embeddings = model.embed({"tactile": paths})["tactile"]
    assert embeddings.shape == (3, 128)
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(3), atol=1e-5)
    # One optimisation step against fixed targets moves the encoder.
    transform = model.transform("tactile")
    batch = ib.get_modality("tactile").collate([transform(p) for p in paths])
    targets = torch.nn.functional.normalize(torch.randn(3, 128), dim=-1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    before = (model({"tactile": batch})["tactile"] * targets).sum()
    (-before).backward()
    optimizer.step()
    after = (model({"tactile": batch})["tactile"] * targets).sum()
    assert after > before


def test_bad_tactile_file_names_file_and_modality(tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((5, 3), np.float32))
    model = ib.MultiModalModel.from_presets({"tactile": "tiny"})
    with pytest.raises(ib.ImageBindLiteError, match=r"tactile.*bad\.npy"):
        model.embed({"tactile": [bad]})


def test_registering_twice_raises():
    with pytest.raises(ib.ImageBindLiteError, match="already registered"):
        @ib.register_modality("tactile")
        class Again(Tactile):
            pass


def test_trains_against_the_pivot_like_the_built_ins(tmp_path):
    """The user's modality goes through the same Lightning path as audio or depth."""
    import csv

    from PIL import Image

    from imagebind_lite.training import AlignmentModule, PairDataModule
    from training_helpers import trainer

    rng = np.random.default_rng(0)
    rows = []
    for i in range(16):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        np.save(tmp_path / f"{i}.npy", rng.random((20, 16), dtype=np.float32))
        rows.append({"id": str(i), "vision": f"{i}.png", "tactile": f"{i}.npy"})
    with (tmp_path / "pairs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "vision", "tactile"])
        writer.writeheader()
        writer.writerows(rows)
    module = AlignmentModule(pivot="vision/tiny", modalities={"tactile": "tiny"}, warmup_steps=1, total_steps=4)
    before = module.encoders["tactile"].head.proj.weight.clone()
    data = PairDataModule(manifests={"tactile": str(tmp_path / "pairs.csv")}, batch_size=8)
    trainer(tmp_path, max_steps=2).fit(module, data)
    assert not torch.equal(before, module.encoders["tactile"].head.proj.weight)
