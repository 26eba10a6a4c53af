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


def _edit_meta(tmp_path, edit, reseal: bool):
    """Edit meta.json; ``reseal`` recomputes its checksum (a careless tool), reaching the deeper checks."""
    from imagebind_lite.retrieval.persistence import meta_checksum

    meta_path = _saved(tmp_path) / "meta.json"
    meta = json.loads(meta_path.read_text())
    edit(meta)
    if reseal:
        meta["checksum"] = meta_checksum(meta)
    meta_path.write_text(json.dumps(meta))


@pytest.mark.parametrize("edit, reseal, message", [
    (lambda m: m.update(format_version=99), False, "version 99"),
    (lambda m: m.update(count=24), False, "edited after saving"),
    (lambda m: m["modality_names"].reverse(), False, "edited after saving"),
    (lambda m: m.update(dim=9), True, "shape"),
    (lambda m: m["files"].pop("rows.safetensors"), True, "no checksum for rows.safetensors"),
    (lambda m: m.pop("checksum"), False, "edited after saving"),
])
def test_bad_metadata(tmp_path, edit, reseal, message):
    _edit_meta(tmp_path, edit, reseal)
    with pytest.raises(IndexFileError, match=message):
        EmbeddingIndex.load(tmp_path / "idx")


def test_edited_ids_are_refused(tmp_path):
    """An id edited in place (same length, valid file) must not come back as a search result."""
    path = _saved(tmp_path) / "rows.safetensors"
    data = path.read_bytes()
    assert data.count(b"a17a18") == 1  # the id blob ("...a17a18..."), not the sources ("a17.wav")
    path.write_bytes(data.replace(b"a17a18", b"a77a18"))
    with pytest.raises(IndexFileError, match="rows.safetensors.*checksum|checksum.*rows.safetensors"):
        EmbeddingIndex.load(tmp_path / "idx")


def _write_v1(directory, index):
    """An index directory as format version 1 wrote it (ids inline, only the embeddings hashed)."""
    from safetensors.torch import save_file

    from imagebind_lite.retrieval.integrity import sha256_file

    directory.mkdir()
    save_file({"embeddings": index.embeddings.contiguous()}, str(directory / "embeddings.safetensors"))
    meta = {"format": "imagebind-lite-index", "format_version": 1, "dim": index.dim, "count": len(index),
            "dtype": "float32", "embedding_file": "embeddings.safetensors",
            "sha256": sha256_file(directory / "embeddings.safetensors"), "ids": index.ids,
            "modalities": index.modalities, "sources": index.sources}
    (directory / "meta.json").write_text(json.dumps(meta))
    return meta


def test_version_1_directories_still_load_and_upgrade(tmp_path, caplog):
    index = _index()
    _write_v1(tmp_path / "v1", index)
    loaded = EmbeddingIndex.load(tmp_path / "v1")
    assert "version 1" in caplog.text
    assert (loaded.ids, loaded.modalities, loaded.sources) == (index.ids, index.modalities, index.sources)
    assert torch.equal(loaded.embeddings, index.embeddings)
    loaded.save(tmp_path / "v2")
    assert json.loads((tmp_path / "v2" / "meta.json").read_text())["format_version"] == 2
    assert EmbeddingIndex.load(tmp_path / "v2").ids == index.ids


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["ids"].pop(), "ids for 25 rows"),
    (lambda m: m.pop("sha256"), "sha256"),
    (lambda m: m.update(dim=9), "shape"),
])
def test_bad_version_1_metadata(tmp_path, edit, message):
    meta = _write_v1(tmp_path / "v1", _index())
    edit(meta)
    (tmp_path / "v1" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(IndexFileError, match=message):
        EmbeddingIndex.load(tmp_path / "v1")


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


def test_saving_never_replaces_a_directory_that_is_not_an_index(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="not an index"):
        _index().save(tmp_path / "docs")
    assert (tmp_path / "docs" / "thesis.tex").read_text() == "precious"
    (tmp_path / "empty").mkdir()
    assert EmbeddingIndex.load(_index().save(tmp_path / "empty")).dim == 8  # an empty directory is fine
