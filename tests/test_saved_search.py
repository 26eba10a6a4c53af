"""Torch-free search of a saved ANN index: the same results as ``EmbeddingIndex.search``, the same
refusals, no torch import in a ``query --vector`` process, and re-scoring that never maps the rows."""
import argparse
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imagebind_lite.commands.query import format_results
from imagebind_lite.errors import InputError
from imagebind_lite.retrieval import EmbeddingIndex, IndexFileError, QueryTerm, search_terms
from imagebind_lite.retrieval.saved_search import SavedSearch, search_saved

D = 32


def clustered(n, seed):
    centers = torch.randn(24, D, generator=torch.Generator().manual_seed(99))
    gen = torch.Generator().manual_seed(seed)
    return F.normalize(centers[torch.randint(0, 24, (n,), generator=gen)] + 0.6 * torch.randn(n, D, generator=gen),
                       dim=-1)


def _save(directory, spec, n_audio, n_text=300, **options):
    index = EmbeddingIndex(D)
    index.add(clustered(n_audio, 0), [f"a{i}" for i in range(n_audio)], "audio",
              [f"/a/{i}.wav" for i in range(n_audio)])
    index.add(clustered(n_text, 1), [f"t{i}" for i in range(n_text)], "text")
    if spec:
        index.build_ann(spec, **options)
    return index.save(directory)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Index directories: IVF-Flat (calibrated), IVF-PQ (re-scored), HNSW, and one without ANN."""
    root = tmp_path_factory.mktemp("saved")
    return {
        "ivf": _save(root / "ivf", "IVF32,Flat", 4000, calibration_queries=64),
        "pq": _save(root / "pq", "IVF16,PQ8", 10500, nprobe=4),   # PQ trains 256 centroids: >= 9984 rows
        "hnsw": _save(root / "hnsw", "HNSW16", 3000, ef_search=32),
        "plain": _save(root / "plain", None, 500),
    }


def _queries(n=6):
    return clustered(n, 7).numpy()


@pytest.mark.parametrize("kind", ["ivf", "pq", "hnsw"])
@pytest.mark.parametrize("modality", [None, "text", ["audio", "text"]])
def test_same_results_as_the_embedding_index(saved, kind, modality):
    light = SavedSearch.open(saved[kind])
    assert light is not None
    queries = _queries()
    for read_only in (True, False):
        full = EmbeddingIndex.load(saved[kind], read_only=read_only)
        for options in ({}, {"nprobe": 2}, {"rerank": 3}, {"ef_search": 64}):
            want = full.search(torch.from_numpy(queries), k=7, modality=modality, **options)
            assert light.search(queries, k=7, modality=modality, **options) == want


def test_re_scoring_reads_rows_from_disk(saved):
    light = SavedSearch.open(saved["pq"])
    assert light._subs[0].rerank > 1  # the PQ sub-index re-scores its candidates
    hits = light.search(_queries(1), k=5)[0]
    rows = light.rows.take(np.array([3, 1, 3]))  # any order, repeats allowed
    stored = EmbeddingIndex.load(saved["pq"]).embeddings
    assert np.array_equal(rows, stored[[3, 1, 3]].numpy())
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_weighted_vector_terms_match_search_terms(saved, tmp_path):
    from safetensors.numpy import save_file

    queries = _queries(3)
    np.save(tmp_path / "a.npy", queries[0])
    np.save(tmp_path / "b.npy", queries[1:2])  # [1, D] reads as [D]
    save_file({"embeddings": queries[2]}, str(tmp_path / "c.safetensors"))
    terms = [QueryTerm("vector", str(tmp_path / "a.npy"), 0.5), QueryTerm("vector", str(tmp_path / "b.npy"), 2.0),
             QueryTerm("vector", str(tmp_path / "c.safetensors"), -0.25)]
    for kind in ("ivf", "pq"):
        for modality in (None, ["audio"]):
            want = search_terms(saved[kind], terms, k=6, modality=modality)
            assert search_saved(saved[kind], terms, k=6, modality=modality) == want


def test_bad_queries_are_the_same_input_errors(saved, tmp_path):
    np.save(tmp_path / "wide.npy", np.ones(5, dtype=np.float32))
    np.save(tmp_path / "q.npy", _queries(1)[0])
    wide, good = QueryTerm("vector", str(tmp_path / "wide.npy")), QueryTerm("vector", str(tmp_path / "q.npy"))
    with pytest.raises(InputError, match="dimension 5 but the index has 32"):
        search_saved(saved["ivf"], [wide])
    with pytest.raises(InputError, match="unknown modality filter 'depth': this index holds audio, text"):
        search_saved(saved["ivf"], [good], modality="depth")
    with pytest.raises(InputError, match="k must be a positive integer"):
        search_saved(saved["ivf"], [good], k=0)


def test_without_a_saved_ann_or_with_model_terms_it_steps_aside(saved, tmp_path):
    np.save(tmp_path / "q.npy", _queries(1)[0])
    vector = QueryTerm("vector", str(tmp_path / "q.npy"))
    assert SavedSearch.open(saved["plain"]) is None
    assert search_saved(saved["plain"], [vector]) is None
    assert search_saved(saved["ivf"], [vector, QueryTerm("text", "a dog")]) is None
    assert search_saved(saved["ivf"], [vector], backend="exact") is None
    assert search_saved(saved["ivf"], []) is None


def _cli(argv, embed_fn=None):
    from imagebind_lite.commands.query import add_arguments

    args = add_arguments(argparse.ArgumentParser()).parse_args(argv)
    out = io.StringIO()
    assert args.func(args, embed_fn=embed_fn, out=out) == 0
    return out.getvalue()


def test_query_command_falls_back_to_the_full_index(saved, tmp_path):
    q = _queries(1)[0]
    np.save(tmp_path / "q.npy", q)
    vector = QueryTerm("vector", str(tmp_path / "q.npy"))
    plain = _cli(["--index", str(saved["plain"]), "--vector", str(tmp_path / "q.npy"), "-k", "4"])
    assert plain.rstrip("\n") == format_results(search_terms(saved["plain"], [vector], k=4))
    calls = []

    def embed_fn(terms):
        calls.append([t.kind for t in terms])
        return [torch.from_numpy(q) for _ in terms]

    mixed = _cli(["--index", str(saved["ivf"]), "--text", "a dog", "--vector", str(tmp_path / "q.npy"), "-k", "3",
                  "--json"], embed_fn)
    assert calls == [["text"]]
    assert [json.loads(line)["id"] for line in mixed.splitlines()] == [
        r.id for r in search_terms(saved["ivf"], [vector], k=3)]  # the same vector twice: the same query


def test_a_query_process_never_imports_torch(saved, tmp_path):
    np.save(tmp_path / "q.npy", _queries(1)[0])
    argv = ["query", "--index", str(saved["pq"]), "--vector", str(tmp_path / "q.npy"), "-k", "5", "--modality", "audio"]
    script = ("import sys\nfrom imagebind_lite.cli import main\nrc = main(sys.argv[1:])\n"
              "print('torch-imported', 'torch' in sys.modules, rc)")
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    *lines, last = done.stdout.rstrip("\n").splitlines()
    assert last == "torch-imported False 0"
    want = search_terms(saved["pq"], [QueryTerm("vector", str(tmp_path / "q.npy"))], k=5, modality="audio")
    assert "\n".join(lines) == format_results(want)


def _copy(saved, kind, tmp_path):
    return shutil.copytree(saved[kind], tmp_path / kind)


@pytest.mark.parametrize("victim", ["ann-0.faiss", "rows.safetensors"])
def test_tampered_files_are_refused_naming_the_file(saved, tmp_path, victim):
    directory = _copy(saved, "ivf", tmp_path)
    assert SavedSearch.open(directory) is not None  # verified once (and remembered) before the edit
    data = bytearray((directory / victim).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (directory / victim).write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="does not match its checksum") as caught:
        SavedSearch.open(directory)
    assert victim in str(caught.value)


def test_tampered_embeddings_are_refused_when_re_scoring_reads_them(saved, tmp_path):
    directory = _copy(saved, "pq", tmp_path)
    data = bytearray((directory / "embeddings.safetensors").read_bytes())
    data[-7] ^= 0xFF
    (directory / "embeddings.safetensors").write_bytes(bytes(data))
    light = SavedSearch.open(directory)
    with pytest.raises(IndexFileError, match="embeddings.safetensors"):
        light.search(_queries(1), k=3)


def test_bad_metadata_is_refused(saved, tmp_path):
    directory = _copy(saved, "ivf", tmp_path)
    meta = json.loads((directory / "meta.json").read_text())
    meta["ann"]["modalities"]["audio"]["nprobe"] = 1  # edited, checksum not updated
    (directory / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(IndexFileError, match="edited after saving") as caught:
        SavedSearch.open(directory)
    assert "meta.json" in str(caught.value)
    (directory / "meta.json").write_text("{not json")
    with pytest.raises(IndexFileError, match="not JSON"):
        SavedSearch.open(directory)


RSS_PROBE = """
import sys, numpy as np
directory, mode = sys.argv[1], sys.argv[2]
queries = np.load(sys.argv[3])
if mode == "light":
    from imagebind_lite.retrieval.saved_search import SavedSearch
    index = SavedSearch.open(directory)
    for q in queries:
        index.search(q, k=10)
else:
    from imagebind_lite.retrieval import EmbeddingIndex
    index = EmbeddingIndex.load(directory, read_only=True)
    for q in queries:
        index.search(q, k=10)
rss, mapped, current = 0, False, False
for line in open("/proc/self/smaps"):
    parts = line.split()
    if "-" in parts[0] and len(parts) >= 5:
        current = line.rstrip().endswith("embeddings.safetensors")
        mapped = mapped or current
    elif current and parts[0] == "Rss:":
        rss += int(parts[1])
print(mapped, rss)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_re_scoring_keeps_the_embeddings_out_of_the_process(saved, tmp_path):
    np.save(tmp_path / "q.npy", clustered(50, 11).numpy())
    for mode in ("light", "read-only"):
        done = subprocess.run([sys.executable, "-c", RSS_PROBE, str(saved["pq"]), mode, str(tmp_path / "q.npy")],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        mapped, rss_kb = done.stdout.split()
        assert int(rss_kb) == 0, f"{mode}: {rss_kb} kB of the embeddings resident after 50 re-scored queries"
        if mode == "light":
            assert mapped == "False"  # not even mapped
