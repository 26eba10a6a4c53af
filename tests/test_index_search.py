"""EmbeddingIndex search: exact vs brute force, faiss recall, filters, incremental adds, threads."""
import threading

import pytest
import torch
import torch.nn.functional as F

from imagebind_lite.errors import InputError
from imagebind_lite.retrieval import AnnConfig, EmbeddingIndex, query_vector
from imagebind_lite.retrieval.exact import exact_topk


def _index(n_audio=300, n_text=200, d=32, **kwargs):
    index = EmbeddingIndex(d, **kwargs)
    index.add(torch.randn(n_audio, d), [f"a{i}" for i in range(n_audio)], "audio",
              sources=[f"/data/a{i}.wav" for i in range(n_audio)])
    index.add(torch.randn(n_text, d), [f"t{i}" for i in range(n_text)], "text")
    return index


def _brute(index, queries, k, modality=None):
    scores = F.normalize(queries, dim=-1) @ index.embeddings.T
    if modality is not None:
        keep = torch.tensor([m == modality for m in index.modalities])
        scores[:, ~keep] = float("-inf")
    return torch.topk(scores, k, dim=1)


@pytest.mark.parametrize("n_queries", [1, 3, 23])  # 1 and 3 take the numpy GEMV path
def test_exact_equals_brute_force_across_chunks(n_queries):
    rows = F.normalize(torch.randn(1000, 16), dim=-1)
    queries = F.normalize(torch.randn(n_queries, 16), dim=-1)
    # tiny chunks force many merges of partial top-k lists
    s, i = exact_topk(queries, rows, 10, row_chunk=97, query_chunk=5)
    ref_s, ref_i = torch.topk(queries @ rows.T, 10, dim=1)
    assert torch.equal(i, ref_i) and torch.allclose(s, ref_s)


def test_search_results_match_brute_force():
    index = _index()
    queries = torch.randn(7, 32)
    results = index.search(queries, k=5, backend="exact")
    ref_s, ref_i = _brute(index, queries, 5)
    for q, hits in enumerate(results):
        assert [h.id for h in hits] == [index.ids[j] for j in ref_i[q].tolist()]
        assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
        assert [h.score for h in hits] == pytest.approx(ref_s[q].tolist(), abs=1e-5)
    for hit in results[0]:
        audio = hit.id.startswith("a")
        assert hit.modality == ("audio" if audio else "text")
        assert hit.source == (f"/data/{hit.id}.wav" if audio else "")


@pytest.mark.parametrize("backend", ["exact", "faiss"])
def test_modality_filter(backend):
    index = _index(n_audio=3000, n_text=40)  # a rare modality: filtering after search would starve
    queries = torch.randn(4, 32)
    for hits in index.search(queries, k=10, modality="text", backend=backend):
        assert len(hits) == 10 and all(h.modality == "text" for h in hits)
    ref_s, ref_i = _brute(index, queries, 10, modality="text")
    got = index.search(queries, k=10, modality=["text"], backend=backend)
    # the 40-row text sub-index is small enough to stay exact in faiss too
    assert [h.id for h in got[0]] == [index.ids[j] for j in ref_i[0].tolist()]
    # a modality the index does not hold (misspelt or absent) is an error listing the ones it holds
    for name in ("depth", "audoi", ["text", "audoi"]):
        with pytest.raises(InputError, match="this index holds audio, text"):
            index.search(queries, k=3, modality=name, backend=backend)


def test_k_larger_than_collection():
    index = _index(n_audio=3, n_text=2)
    assert len(index.search(torch.randn(32), k=10)[0]) == 5
    assert len(index.search(torch.randn(32), k=10, modality="text")[0]) == 2


def test_faiss_recall_against_exact():
    d, n = 32, 6000
    centers = torch.randn(60, d)
    data = centers[torch.randint(0, 60, (n,))] + 0.5 * torch.randn(n, d)
    queries = data[:50] + 0.1 * torch.randn(50, d)
    for kind in ("hnsw", "ivf"):
        index = EmbeddingIndex(d, ann=AnnConfig(kind=kind, nprobe=8))
        index.add(data, [str(i) for i in range(n)], "audio")
        _, exact = index.search_rows(queries, 10, backend="exact")
        _, approx = index.search_rows(queries, 10, backend="faiss")
        recall = sum(len(set(a.tolist()) & set(e.tolist())) for a, e in zip(approx, exact)) / exact.numel()
        assert recall >= 0.9, (kind, recall)


def test_auto_backend_switches_by_size():
    index = _index(n_audio=100, n_text=100, exact_below=150)
    assert index._pick_backend("auto", len(index)) == "faiss"
    assert _index(exact_below=10_000)._pick_backend("auto", 500) == "exact"
    with pytest.raises(InputError):
        index.search(torch.randn(32), backend="annoy")


def test_incremental_add_and_faiss_extension():
    index = _index(n_audio=2500, n_text=10)
    q = torch.randn(32)
    index.search(q, backend="faiss")  # builds the sub-indexes
    new = F.normalize(q, dim=0).unsqueeze(0)
    index.add(new, ["exact-match"], "text", sources=["/q.txt"])
    index.add(new * 2, ["exact-match-audio"], "audio")
    for backend in ("exact", "faiss"):
        assert index.search(q, k=1, modality="text", backend=backend)[0][0].id == "exact-match"
        assert index.search(q, k=1, modality="audio", backend=backend)[0][0].id == "exact-match-audio"
    assert len(index) == 2512


def test_add_rejects_bad_input():
    index = _index(n_audio=5, n_text=5)
    with pytest.raises(InputError, match="duplicate id"):
        index.add(torch.randn(1, 32), ["a3"], "audio")
    with pytest.raises(InputError, match="duplicate id"):
        index.add(torch.randn(2, 32), ["x", "x"], "audio")
    with pytest.raises(InputError, match=r"\[N, 32\]"):
        index.add(torch.randn(2, 31), ["y", "z"], "audio")
    with pytest.raises(InputError, match="zero norm"):
        index.add(torch.zeros(1, 32), ["zero"], "audio")
    with pytest.raises(InputError, match="2 embeddings but 1 ids"):
        index.add(torch.randn(2, 32), ["w"], "audio")
    assert len(index) == 10  # failed adds leave nothing behind


@pytest.mark.parametrize("backend", ["exact", "faiss"])
def test_concurrent_queries_from_threads(backend):
    index = _index(n_audio=2500, n_text=300)  # faiss sub-indexes not built yet: threads race to build
    queries = torch.randn(16, 32)
    errors, got = [], []

    def worker(t):
        try:
            for rep in range(3):
                q = (t + rep) % 16
                got.append((q, [h.id for h in index.search(queries[q], k=5, backend=backend)[0]]))
        except Exception as exc:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 24
    # single-threaded answers afterwards (brute force for exact; the same built faiss index otherwise)
    expected = [[index.ids[j] for j in row] for row in _brute(index, queries, 5)[1].tolist()]
    if backend == "faiss":
        expected = [[h.id for h in hits] for hits in index.search(queries, k=5, backend="faiss")]
    assert all(ids == expected[q] for q, ids in got)


def test_query_vector_arithmetic():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 1.0])
    v = query_vector([(a, 1.0), (b, 1.0)])
    assert torch.allclose(v, torch.tensor([1.0, 1.0]) / 2 ** 0.5)
    assert torch.allclose(query_vector([(a, 1.0), (b, 3.0)]), F.normalize(torch.tensor([1.0, 3.0]), dim=0))
    with pytest.raises(InputError):
        query_vector([(a, 1.0), (-a, 1.0)])
    with pytest.raises(InputError):
        query_vector([])


def test_adds_while_searching_from_threads():
    index = _index(n_audio=200, n_text=50)
    stop, errors = threading.Event(), []

    def searcher():
        try:
            while not stop.is_set():
                hits = index.search(torch.randn(32), k=5)[0]
                scores = [h.score for h in hits]
                assert len(hits) == 5 and scores == sorted(scores, reverse=True)
                # metadata must belong to the row that scored: depth rows are exactly the "n..." ids
                assert all((h.modality == "depth") == h.id.startswith("n") for h in hits)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    for batch in range(40):  # many small adds force several buffer reallocations meanwhile
        index.add(torch.randn(50, 32), [f"n{batch}-{i}" for i in range(50)], "depth")
    stop.set()
    for t in threads:
        t.join()
    assert not errors and len(index) == 250 + 40 * 50


def test_missing_faiss_gives_clear_import_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    index = _index(n_audio=5, n_text=5)
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        index.search(torch.randn(32), backend="faiss")
    assert len(index.search(torch.randn(32), backend="exact")[0]) == 10  # exact needs only torch
