"""Index save/load round trip and clear errors for truncated, tampered or mismatched files."""
import json

import pytest
import torch

from imagebind_lite.errors import ImageBindLiteError, InputError
from imagebind_lite.retrieval import EmbeddingIndex, IndexFileError, read_shards, write_shard


def _index():
    index = EmbeddingIndex(8)
    index.add(torch.randn(20, 8), [f"a{i}" for i in range(20)], "audio", [f"a{i}.wav" for i in range(20)])
    index.add(torch.randn(5, 8), [f"t{i}" for i in range(5)], "text")
    return index


def test_round_trip(tmp_path):
    index = _index()
    index.save(tmp_path / "idx")
    loaded = EmbeddingIndex.load(tmp_path / "idx")
    assert torch.equal(loaded.embeddings, index.embeddings)
    assert (loaded.ids, loaded.modalities, loaded.sources) == (index.ids, index.modalities, index.sources)
    q = torch.randn(3, 8)
    assert loaded.search(q, k=4) == index.search(q, k=4)
    loaded.add(torch.randn(1, 8), ["new"], "depth")  # a loaded index keeps growing
    assert len(loaded) == 26


def test_save_replaces_atomically(tmp_path):
    _index().save(tmp_path / "idx")
    small = EmbeddingIndex(8)
    small.add(torch.randn(2, 8), ["x", "y"], "imu")
    small.save(tmp_path / "idx")
    assert EmbeddingIndex.load(tmp_path / "idx").ids == ["x", "y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # no temporary leftovers


def _saved(tmp_path):
    return _index().save(tmp_path / "idx")


def test_truncated_embedding_file(tmp_path):
    path = _saved(tmp_path) / "embeddings.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IndexFileError, match="embeddings.safetensors") as err:
        EmbeddingIndex.load(tmp_path / "idx")
    assert isinstance(err.value, InputError) and isinstance(err.value, ImageBindLiteError)
    assert "truncated or modified" in str(err.value)


def test_tampered_embedding_file(tmp_path):
    path = _saved(tmp_path) / "embeddings.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # one flipped byte inside a float
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="checksum"):
        EmbeddingIndex.load(tmp_path / "idx")


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(format_version=99), "version 99"),
    (lambda m: m.update(dim=9), "shape"),
    (lambda m: m["ids"].pop(), "ids for 25 rows"),
    (lambda m: m.pop("sha256"), "sha256"),
])
def test_bad_metadata(tmp_path, edit, message):
    meta_path = _saved(tmp_path) / "meta.json"
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IndexFileError, match=message):
        EmbeddingIndex.load(tmp_path / "idx")


def test_truncated_metadata_and_missing_dir(tmp_path):
    meta_path = _saved(tmp_path) / "meta.json"
    meta_path.write_text(meta_path.read_text()[:50])
    with pytest.raises(IndexFileError, match="meta.json"):
        EmbeddingIndex.load(tmp_path / "idx")
    with pytest.raises(IndexFileError, match="missing"):
        EmbeddingIndex.load(tmp_path / "nowhere")


def test_dimension_mismatch(tmp_path):
    _saved(tmp_path)
    with pytest.raises(IndexFileError, match="dimension 8, expected 16"):
        EmbeddingIndex.load(tmp_path / "idx", dim=16)


def test_shards_round_trip_and_corruption(tmp_path):
    emb = torch.randn(4, 8)
    write_shard(tmp_path / "s" / "part-00001", emb, list("abcd"), "audio", [f"{c}.wav" for c in "abcd"])
    write_shard(tmp_path / "s" / "part-00000.safetensors", emb[:2], ["x", "y"], ["text", "vision"])
    shards = list(read_shards(tmp_path / "s"))
    assert [s.ids for s in shards] == [["x", "y"], list("abcd")]
    assert shards[0].modalities == ["text", "vision"] and shards[1].sources[0] == "a.wav"
    assert torch.equal(shards[1].embeddings, emb)
    path = tmp_path / "s" / "part-00001.safetensors"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(IndexFileError, match="part-00001"):
        list(read_shards(tmp_path / "s"))
    with pytest.raises(InputError):
        write_shard(tmp_path / "bad", emb, ["only-one"], "audio")


def test_empty_index_round_trip(tmp_path):
    empty = EmbeddingIndex(4)
    assert empty.search(torch.randn(2, 4)) == [[], []]
    loaded = EmbeddingIndex.load(empty.save(tmp_path / "empty"))
    assert (len(loaded), loaded.dim) == (0, 4)
