"""Atomic writes and their one permission policy: every writer leaves umask-derived modes."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
from training_helpers import module, world_data

import imagebind_lite as ib
from imagebind_lite.atomic import atomic_directory, atomic_path, atomic_write_text, current_umask
from imagebind_lite.data.world import SyntheticWorld, WorldConfig, render_preview
from imagebind_lite.retrieval import EmbeddingIndex
from imagebind_lite.retrieval.shards import write_shard

UMASKS = [0o022, 0o077, 0o002]


@pytest.fixture(params=UMASKS, ids=lambda mask: f"umask{mask:03o}")
def umask(request):
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _assert_modes(root: Path, mask: int) -> None:
    """``root`` and everything below it have the modes open()/mkdir() give under ``mask``."""
    paths = [root, *root.rglob("*")]
    for path in paths:
        want = (0o777 if path.is_dir() else 0o666) & ~mask
        assert _mode(path) == want, f"{path}: {oct(_mode(path))}, want {oct(want)}"


def test_current_umask_reads_without_changing_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask  # unchanged by the first read


def test_saved_model_modes(umask, tmp_path):
    model = ib.MultiModalModel({"thermal": ib.create_encoder("thermal/tiny")})
    model.save(tmp_path / "model")
    model.save(tmp_path / "model")  # replacing keeps the policy and leaves nothing behind
    _assert_modes(tmp_path / "model", umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_saved_index_modes(umask, tmp_path):
    index = EmbeddingIndex(4)
    index.add(torch.randn(3, 4), ["a", "b", "c"], "audio")
    index.save(tmp_path / "index")
    _assert_modes(tmp_path / "index", umask)
    assert EmbeddingIndex.load(tmp_path / "index").ids == ["a", "b", "c"]


def test_shard_report_and_preview_modes(umask, tmp_path):
    write_shard(tmp_path / "out" / "audio-0", torch.randn(2, 4), ["a", "b"], "audio")
    atomic_write_text(tmp_path / "out" / "report.md", "# report\n")
    render_preview(SyntheticWorld(WorldConfig(image_size=32)), tmp_path / "out" / "preview.png", n=1)
    assert len(list((tmp_path / "out").iterdir())) == 4  # shard + sidecar + report + preview
    for path in (tmp_path / "out").iterdir():
        assert _mode(path) == 0o666 & ~umask, path


def test_pivot_cache_file_mode(umask, tmp_path):
    model = module()
    world_data(cache_dir=str(tmp_path / "cache")).bind(model.pivot, model.data_configs()).setup("fit")
    files = list((tmp_path / "cache").glob("pivot-*.safetensors"))
    assert len(files) == 1 and _mode(files[0]) == 0o666 & ~umask


def test_nested_directories_and_links(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    outside.chmod(0o600)
    with atomic_directory(tmp_path / "tree") as tmp:
        (tmp / "sub" / "deeper").mkdir(parents=True)
        (tmp / "sub" / "deeper" / "file.bin").write_bytes(b"x")
        (tmp / "sub" / "deeper" / "file.bin").chmod(0o600)
        (tmp / "link").symlink_to(outside)
    mask = current_umask()
    assert _mode(tmp_path / "tree" / "sub" / "deeper") == 0o777 & ~mask
    assert _mode(tmp_path / "tree" / "sub" / "deeper" / "file.bin") == 0o666 & ~mask
    assert _mode(outside) == 0o600  # a link's target is not part of what we wrote


def test_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "data.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "dir") as tmp:
            (tmp / "x").write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.txt"]
