"""Saved ANN indexes: factory strings, calibration, save/load without retraining, appends, refusals."""
import json

import pytest
import torch
import torch.nn.functional as F

from imagebind_lite.errors import InputError
from imagebind_lite.retrieval import EmbeddingIndex, IndexFileError, build_index_from_shards, write_shard
from imagebind_lite.retrieval.ann import FaissBackend

D = 32


def clustered(n, seed=0, clusters=40):
    """Unit vectors around 40 fixed concept centres (one law for rows and queries); ``seed`` draws."""
    centers = torch.randn(clusters, D, generator=torch.Generator().manual_seed(1234))
    gen = torch.Generator().manual_seed(seed)
    x = centers[torch.randint(0, clusters, (n,), generator=gen)] + 0.6 * torch.randn(n, D, generator=gen)
    return F.normalize(x, dim=-1)


def _index(n_audio=6000, n_text=300, seed=0):
    index = EmbeddingIndex(D)
    index.add(clustered(n_audio, seed), [f"a{i}" for i in range(n_audio)], "audio",
              [f"/a/{i}.wav" for i in range(n_audio)])
    index.add(clustered(n_text, seed + 1), [f"t{i}" for i in range(n_text)], "text")
    return index


def recall(index, queries, k=10, **options):
    _, exact = index.search_rows(queries, k, backend="exact")
    _, approx = index.search_rows(queries, k, backend="faiss", **options)
    return sum(len(set(a.tolist()) & set(e.tolist())) for a, e in zip(approx, exact)) / exact.numel()


@pytest.fixture(scope="module")
def saved_ivf(tmp_path_factory):
    index = _index()
    index.build_ann("IVF64,Flat")
    return index, index.save(tmp_path_factory.mktemp("ann") / "idx")


def test_factory_index_is_calibrated_saved_and_loaded_without_retraining(saved_ivf, monkeypatch):
    index, directory = saved_ivf
    ann = index.ann_description()
    audio = ann["modalities"]["audio"]
    assert ann["factory"] == "IVF64,Flat" and audio["spec"] == "IVF64,Flat" and audio["rows"] == 6000
    assert audio["recall@10"] >= 0.95 and 1 <= audio["nprobe"] <= 64 and audio["rerank"] == 0
    assert ann["modalities"]["text"]["spec"] == "Flat"  # 300 rows: too few to train 64 lists, kept exact
    meta = json.loads((directory / "meta.json").read_text())
    assert set(meta["files"]) == {"embeddings.safetensors", "rows.safetensors", "ann-0.faiss", "ann-1.faiss"}

    def no_training(*args, **kwargs):
        raise AssertionError("a saved ANN index must not be rebuilt or retrained")

    monkeypatch.setattr(FaissBackend, "_new_sub", no_training)
    for read_only in (False, True):
        loaded = EmbeddingIndex.load(directory, read_only=read_only)
        assert loaded.backend_for("auto") == "faiss" and loaded.ann_description() == ann
        queries = clustered(20, seed=7)
        assert loaded.search(queries, k=5) == index.search(queries, k=5)
        assert recall(loaded, queries) >= 0.9
        flat = loaded.search(queries, k=3, modality="text")  # the small modality's flat index is exact
        exact = loaded.search(queries, k=3, modality="text", backend="exact")
        assert [[h.id for h in hits] for hits in flat] == [[h.id for h in hits] for hits in exact]


def test_exact_is_the_auto_backend_without_a_saved_ann(tmp_path):
    index = _index(n_audio=3000)
    assert index.backend_for("auto") == "exact"
    assert EmbeddingIndex.load(index.save(tmp_path / "plain")).backend_for("auto") == "exact"


def test_search_parameters_override_the_calibrated_defaults(saved_ivf):
    _, directory = saved_ivf
    loaded = EmbeddingIndex.load(directory, read_only=True)
    queries = clustered(30, seed=3)
    assert recall(loaded, queries, nprobe=64) == pytest.approx(1.0)  # every list probed: exact
    assert recall(loaded, queries, nprobe=1) < recall(loaded, queries)
    for bad in ({"nprobe": 0}, {"ef_search": -1}, {"rerank": -2}, {"nprobe": 1.5}):
        with pytest.raises(InputError, match="positive integer"):
            loaded.search(queries, **bad)


@pytest.mark.parametrize("spec, min_recall", [
    ("IVF32,PQ4", 0.9), ("HNSW16", 0.9),
    pytest.param("OPQ4,IVF32,PQ4", 0.9, marks=pytest.mark.slow),  # OPQ's rotation training: ~10 s here
])
def test_other_factory_strings(tmp_path, spec, min_recall):
    index = _index(n_audio=10000, n_text=50)  # PQ codebooks need >= 39 x 256 training rows
    index.build_ann(spec)
    sub = index.ann_description()["modalities"]["audio"]
    assert sub["spec"] == spec and (sub["rerank"] >= 10 if "PQ" in spec else sub["rerank"] == 0)
    loaded = EmbeddingIndex.load(index.save(tmp_path / "idx"), read_only=True)
    queries = clustered(30, seed=5)
    assert recall(loaded, queries) >= min_recall
    hits = loaded.search(queries[:1], k=5)[0]
    exact = torch.tensor([h.score for h in hits])
    ids = [loaded.row_of(h.id) for h in hits]
    assert torch.allclose(exact, loaded.embeddings[ids] @ F.normalize(queries[0], dim=0), atol=1e-5)  # re-scored


@pytest.mark.parametrize("spec, message", [("IVF", "faiss cannot build"), ("IVF16,PQ7", "PQ<m> needs m"),
                                           ("Bogus99", "examples: 'IVF1024,Flat'"), ("", "factory string")])
def test_bad_factory_strings_are_clear_errors(spec, message):
    with pytest.raises(InputError, match=message):
        _index(n_audio=3000).build_ann(spec)


def test_appending_extends_the_saved_ann_without_retraining(tmp_path, monkeypatch):
    index = _index(n_audio=4000, n_text=100)
    index.build_ann("IVF32,Flat")
    index.save(tmp_path / "idx")
    extra = clustered(50, seed=9)
    write_shard(tmp_path / "more" / "part0", extra, [f"new{i}" for i in range(50)], "audio")
    write_shard(tmp_path / "more" / "part1", clustered(5, seed=10), [f"d{i}" for i in range(5)], "depth")
    real_new_sub = FaissBackend._new_sub
    built = []

    def only_new_modalities(self, emb, rows):
        built.append(len(rows))
        return real_new_sub(self, emb, rows)

    monkeypatch.setattr(FaissBackend, "_new_sub", only_new_modalities)
    build_index_from_shards(tmp_path / "more", tmp_path / "idx", append=True)
    assert built == [5]  # the depth sub-index is new (flat); audio's IVF was extended, not retrained
    loaded = EmbeddingIndex.load(tmp_path / "idx", read_only=True)
    subs = loaded.ann_description()["modalities"]
    assert subs["audio"]["rows"] == 4050 and subs["audio"]["trained_rows"] == 4000 and subs["depth"]["rows"] == 5
    hits = loaded.search(extra[:3], k=1, modality="audio")
    assert [h[0].id for h in hits] == ["new0", "new1", "new2"]
    with pytest.raises(InputError, match="cannot change it"):
        build_index_from_shards(tmp_path / "more", tmp_path / "idx", append=True, ann="HNSW16")


def test_tampered_or_swapped_ann_files_are_refused(tmp_path, saved_ivf):
    import shutil

    _, directory = saved_ivf
    victim = shutil.copytree(directory, tmp_path / "victim")
    data = bytearray((victim / "ann-0.faiss").read_bytes())
    data[len(data) // 2] ^= 0x55
    (victim / "ann-0.faiss").write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="ann-0.faiss"):
        EmbeddingIndex.load(victim)
    other = _index(n_audio=5000, seed=4)  # another build: different rows, same layout
    other.build_ann("IVF64,Flat")
    other.save(tmp_path / "other")
    swapped = shutil.copytree(directory, tmp_path / "swapped")
    shutil.copy(tmp_path / "other" / "ann-0.faiss", swapped / "ann-0.faiss")
    with pytest.raises(IndexFileError, match="checksum"):
        EmbeddingIndex.load(swapped)


def test_resealed_metadata_cannot_pair_an_ann_file_with_other_rows(tmp_path, saved_ivf):
    """Even with its checksums redone, an ANN file holding another row count is refused."""
    import shutil

    from imagebind_lite.retrieval.integrity import sha256_file
    from imagebind_lite.retrieval.persistence import meta_checksum

    _, directory = saved_ivf
    other = _index(n_audio=5000, seed=4)
    other.build_ann("IVF64,Flat")
    other.save(tmp_path / "other")
    swapped = shutil.copytree(directory, tmp_path / "swapped")
    shutil.copy(tmp_path / "other" / "ann-0.faiss", swapped / "ann-0.faiss")
    meta = json.loads((swapped / "meta.json").read_text())
    digest = sha256_file(swapped / "ann-0.faiss")
    meta["files"]["ann-0.faiss"] = meta["ann"]["modalities"]["audio"]["sha256"] = digest
    meta["checksum"] = meta_checksum(meta)
    (swapped / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(IndexFileError, match="5000 entries for 6000 rows"):
        EmbeddingIndex.load(swapped)


def test_read_only_indexes_refuse_writes(saved_ivf, tmp_path):
    _, directory = saved_ivf
    loaded = EmbeddingIndex.load(directory, read_only=True)
    with pytest.raises(InputError, match="read-only"):
        loaded.add(torch.randn(1, D), ["x"], "audio")
    with pytest.raises(InputError, match="read-only"):
        loaded.save(tmp_path / "copy")
    writable = EmbeddingIndex.load(directory)
    writable.add(clustered(1, seed=11), ["x"], "audio")  # extends its in-memory ANN index
    assert writable.search(clustered(1, seed=11), k=1)[0][0].id == "x"
    assert EmbeddingIndex.load(writable.save(tmp_path / "copy")).ann_description()["modalities"]["audio"]["rows"] == 6001


def test_without_faiss_a_saved_ann_index_is_searched_exactly(saved_ivf, monkeypatch, caplog):
    import sys

    _, directory = saved_ivf
    monkeypatch.setitem(sys.modules, "faiss", None)
    loaded = EmbeddingIndex.load(directory)
    assert "faiss is not installed" in caplog.text
    assert loaded.backend_for("auto") == "exact" and len(loaded.search(torch.randn(D), k=3)[0]) == 3


def test_verified_files_are_not_rehashed_until_they_change(tmp_path, monkeypatch):
    import time

    from imagebind_lite.retrieval import integrity

    directory = _index(n_audio=500, n_text=10).save(tmp_path / "idx")
    calls = []
    real = integrity.sha256_file
    monkeypatch.setattr(integrity, "sha256_file", lambda path, *a: calls.append(path) or real(path, *a))
    EmbeddingIndex.load(directory)
    assert len(calls) == 2  # just written: "racy", so hashed in full and not remembered
    monkeypatch.setattr(integrity, "RACY_SECONDS", 0.0)
    EmbeddingIndex.load(directory)
    calls.clear()
    EmbeddingIndex.load(directory)
    assert calls == []  # unchanged stat data: trusted
    EmbeddingIndex.load(directory, verify="full")
    assert len(calls) == 2
    time.sleep(0.05)  # past the timestamp tick of the remembered hashes
    path = directory / "embeddings.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="embeddings.safetensors"):
        EmbeddingIndex.load(directory)


def test_fixed_search_settings_are_saved_instead_of_calibrated(tmp_path):
    index = _index(n_audio=3000)
    index.build_ann("IVF32,Flat", nprobe=7)
    loaded = EmbeddingIndex.load(index.save(tmp_path / "idx"), read_only=True)
    audio = loaded.ann_description()["modalities"]["audio"]
    assert audio["nprobe"] == 7 and "recall@10" not in audio
    with pytest.raises(InputError, match="target recall"):
        _index(n_audio=3000).build_ann("IVF32,Flat", target_recall=1.5)
