"""Query terms as a library (no parser): vectors, weighted sums, file modalities, index builds."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from imagebind_lite import MultiModalModel
from imagebind_lite.errors import InputError
from imagebind_lite.retrieval import (
    EmbeddingIndex, QueryTerm, TermEmbedder, build_index_from_shards, load_vector, modality_counts, search_terms,
    write_shard,
)
from imagebind_lite.retrieval.term_embedder import file_modality


@pytest.fixture
def index_dir(tmp_path):
    emb = F.normalize(torch.randn(12, 8), dim=-1)
    write_shard(tmp_path / "shards" / "a", emb[:8], [f"v{i}" for i in range(8)], "vision")
    write_shard(tmp_path / "shards" / "b", emb[8:], [f"s{i}" for i in range(4)], "audio")
    index = build_index_from_shards(tmp_path / "shards", tmp_path / "idx")
    assert modality_counts(index) == {"vision": 8, "audio": 4}
    return tmp_path, emb


def test_vector_terms_search_an_index_object_or_its_directory(index_dir):
    tmp_path, emb = index_dir
    np.save(tmp_path / "q.npy", emb[5:6].numpy())  # [1, D] is read as [D]
    terms = [QueryTerm("vector", str(tmp_path / "q.npy"))]
    from_dir = search_terms(tmp_path / "idx", terms, k=2)
    from_object = search_terms(EmbeddingIndex.load(tmp_path / "idx"), terms, k=2)
    assert [r.id for r in from_dir] == [r.id for r in from_object] and from_dir[0].id == "v5"
    assert [r.modality for r in search_terms(tmp_path / "idx", terms, k=3, modality=["audio"])] == ["audio"] * 3


def test_weights_decide_which_term_dominates(index_dir):
    tmp_path, emb = index_dir
    save_file({"embeddings": emb[1]}, str(tmp_path / "v.safetensors"))
    calls = []

    def embed_fn(terms):
        calls.append([t.kind for t in terms])
        return [emb[9] for _ in terms]

    terms = [QueryTerm("vector", str(tmp_path / "v.safetensors"), 0.2), QueryTerm("text", "a drum", 1.0)]
    assert search_terms(tmp_path / "idx", terms, embed_fn, k=1)[0].id == "s1"
    terms[0].weight = 5.0
    assert search_terms(tmp_path / "idx", terms, embed_fn, k=1)[0].id == "v1"
    assert calls == [["text"], ["text"]]  # vectors never go through the model


def test_bad_queries_are_input_errors(index_dir):
    tmp_path, _ = index_dir
    np.save(tmp_path / "wide.npy", np.ones(5, dtype=np.float32))
    with pytest.raises(InputError, match="dimension 5 but the index has 8") as caught:
        search_terms(tmp_path / "idx", [QueryTerm("vector", str(tmp_path / "wide.npy"))])
    assert "idx" in str(caught.value)
    with pytest.raises(InputError, match="at least one"):
        search_terms(tmp_path / "idx", [])
    with pytest.raises(InputError, match="need a model"):
        search_terms(tmp_path / "idx", [QueryTerm("text", "a dog")])
    np.save(tmp_path / "matrix.npy", np.ones((2, 8), dtype=np.float32))
    with pytest.raises(InputError, match=r"must be \[D\]"):
        load_vector(tmp_path / "matrix.npy")
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="cannot read query vector"):
        load_vector(tmp_path / "pickled.npy")


def test_file_modality_from_prefix_or_unique_extension():
    assert file_modality("audio:x.png", ["vision", "audio"]) == ("audio", Path("x.png"))
    assert file_modality("bark.wav", ["vision", "audio"])[0] == "audio"
    with pytest.raises(InputError, match="ambiguous"):
        file_modality("map.png", ["vision", "depth"])
    with pytest.raises(InputError, match="MODALITY:PATH"):
        file_modality("notes.xyz", ["vision", "audio"])


def test_term_embedder_loads_only_what_the_terms_need(tmp_path, monkeypatch):
    from imagebind_lite import model as model_module

    torch.manual_seed(0)
    model = MultiModalModel.from_presets({"vision": "tiny", "text": "tiny"}).eval()
    model.save(tmp_path / "model")
    loaded, load = [], model_module.load_model
    monkeypatch.setattr(model_module, "load_model", lambda *a, **kw: loaded.append(kw["modalities"]) or load(*a, **kw))
    [got] = TermEmbedder(tmp_path / "model")([QueryTerm("text", "a dog")])
    assert loaded == [{"text"}]
    assert torch.allclose(got, model.embed({"text": ["a dog"]})["text"][0], atol=1e-6)
    with pytest.raises(InputError, match="no 'audio' encoder"):
        TermEmbedder(tmp_path / "model")([QueryTerm("file", "audio:bark.wav")])
