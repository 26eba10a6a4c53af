"""Registry: built-ins come through entry points, third parties too, names are checked."""
import sys
import textwrap

import pytest

import imagebind_lite as ib
from imagebind_lite import registry

BUILT_INS = ["audio", "depth", "imu", "text", "thermal", "vision"]


def test_built_in_modalities_are_registered():
    assert set(BUILT_INS) <= set(ib.list_modalities())


@pytest.mark.parametrize("modality", BUILT_INS)
def test_every_built_in_has_tiny_and_imagebind_presets(modality):
    presets = ib.get_modality(modality).presets()
    assert "tiny" in presets and "imagebind_huge" in presets
    assert presets["imagebind_huge"].embed_dim == 1024


def test_unknown_names_raise_one_catchable_error():
    with pytest.raises(ib.ImageBindLiteError, match="unknown modality 'smell'"):
        ib.get_modality("smell")
    with pytest.raises(ib.ImageBindLiteError, match="unknown preset 'giant'"):
        ib.create_encoder("thermal/giant")
    with pytest.raises(ib.ImageBindLiteError):
        ib.create_encoder("no-slash")


def test_names_must_be_lowercase_identifiers():
    with pytest.raises(ValueError):
        ib.register_modality("Bad Name")


def test_third_party_modality_through_entry_point(tmp_path, monkeypatch):
    package = tmp_path / "smell_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent("""
        import torch
        import imagebind_lite as ib
        from imagebind_lite.layers import PatchStem

        class Smell(ib.ModalitySpec):  # registered by the entry point, no decorator needed
            def presets(self):
                return {"tiny": ib.EncoderConfig("smell", embed_dim=16, width=16, depth=1, num_heads=2)}
            def to_tensor(self, raw, data, source):
                return torch.as_tensor(raw, dtype=torch.float32)
            def build_stem(self, config):
                return PatchStem(torch.nn.Linear(1, config.width), 8, config.width, input_ndim=2)
    """))
    dist = tmp_path / "smell_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: smell-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[imagebind_lite.modalities]\nsmell = smell_plugin:Smell\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        registry.load_entry_points(force=True)
        assert "smell" in ib.list_modalities()
        model = ib.MultiModalModel.from_presets({"smell": "tiny"})
        out = model.embed({"smell": [[[0.1]] * 8, [[0.5]] * 8]})["smell"]
        assert out.shape == (2, 16)
    finally:
        registry.unregister_modality("smell")
        sys.modules.pop("smell_plugin", None)


def test_cli_lists_modalities(capsys):
    from imagebind_lite.cli import main

    assert main(["modalities"]) == 0
    out = capsys.readouterr().out
    for name in BUILT_INS:
        assert name in out
    assert "thermal/tiny" in out
