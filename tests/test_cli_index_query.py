"""``index build`` / ``index info`` / ``query`` parsers of ``imagebind_lite/commands``, mounted on a
program's own subparsers and driven as the CLI drives them."""
import argparse
import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imagebind_lite.errors import InputError
from imagebind_lite.retrieval import EmbeddingIndex, write_shard
from imagebind_lite.commands.index import add_index_arguments
from imagebind_lite.commands.query import add_query_arguments


def _parser():
    parser = argparse.ArgumentParser(prog="imagebind-lite")
    sub = parser.add_subparsers(dest="command", required=True)
    add_index_arguments(sub)
    add_query_arguments(sub)
    return parser


def _run(argv, **kwargs):
    args = _parser().parse_args(argv)
    out = io.StringIO()
    assert args.func(args, out=out, **kwargs) == 0
    return out.getvalue()


@pytest.fixture
def built(tmp_path):
    emb = F.normalize(torch.randn(30, 8), dim=-1)
    write_shard(tmp_path / "shards" / "rank0", emb[:20], [f"img{i}" for i in range(20)], "vision",
                [f"/img/{i}.png" for i in range(20)])
    write_shard(tmp_path / "shards" / "rank1", emb[20:], [f"snd{i}" for i in range(10)], "audio")
    text = _run(["index", "build", "--shards", str(tmp_path / "shards"), "--out", str(tmp_path / "idx")])
    assert "30 rows" in text and "audio=10" in text
    return tmp_path, emb


def test_build_info_and_query_by_vector(built):
    tmp_path, emb = built
    info = json.loads(_run(["index", "info", str(tmp_path / "idx")]))
    assert info == {"rows": 30, "dim": 8, "modalities": {"vision": 20, "audio": 10}}
    np.save(tmp_path / "q.npy", emb[3].numpy())
    text = _run(["query", "--index", str(tmp_path / "idx"), "--vector", str(tmp_path / "q.npy"), "-k", "3"])
    first = text.splitlines()[0].split()
    assert first[0] == "1" and first[2] == "vision" and first[3] == "img3" and first[4] == "/img/3.png"
    assert float(first[1]) == pytest.approx(1.0, abs=1e-5)
    rows = [json.loads(line) for line in _run(["query", "--index", str(tmp_path / "idx"), "--vector",
                                               str(tmp_path / "q.npy"), "--modality", "audio", "--json"]).splitlines()]
    assert len(rows) == 10 and {r["modality"] for r in rows} == {"audio"}


def test_weighted_terms_go_through_embed_fn(built):
    tmp_path, emb = built
    np.save(tmp_path / "snd.npy", emb[25].numpy())
    calls = []

    def embed_fn(terms):  # stands in for the model: the "image" term maps to row 3
        calls.append([(t.kind, t.value, t.weight) for t in terms])
        return [emb[3] for _ in terms]

    argv = ["query", "--index", str(tmp_path / "idx"), "--file", "dog.png", "--weight", "0.1",
            "--vector", str(tmp_path / "snd.npy"), "-k", "1"]
    text = _run(argv, embed_fn=embed_fn)
    assert calls == [[("file", "dog.png", 0.1)]]
    assert text.split()[3] == "snd5"  # the sound term dominates at weight 1 vs 0.1
    with pytest.raises(InputError, match="need a model"):
        _run(["query", "--index", str(tmp_path / "idx"), "--text", "a dog"])


def test_append_build(built):
    tmp_path, _ = built
    write_shard(tmp_path / "more" / "r0", torch.randn(2, 8), ["d0", "d1"], "depth")
    _run(["index", "build", "--shards", str(tmp_path / "more"), "--out", str(tmp_path / "idx"), "--append"])
    assert len(EmbeddingIndex.load(tmp_path / "idx")) == 32


def test_weight_before_any_term_is_rejected():
    with pytest.raises(SystemExit):
        _parser().parse_args(["query", "--index", "x", "--weight", "2"])


def test_misspelt_modality_filter_is_an_error_listing_the_held_ones(built):
    tmp_path, emb = built
    np.save(tmp_path / "q.npy", emb[3].numpy())
    with pytest.raises(InputError, match="'audoi'.*this index holds vision, audio"):
        _run(["query", "--index", str(tmp_path / "idx"), "--vector", str(tmp_path / "q.npy"), "--modality", "audoi"])


def test_build_with_ann_then_info_verify_and_query(tmp_path):
    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(20, 16, generator=gen)
    emb = F.normalize(centers[torch.randint(0, 20, (4000,), generator=gen)] + 0.5 * torch.randn(4000, 16, generator=gen),
                      dim=-1)
    for part in range(4):  # shards as an old embed run wrote them: many small ones
        rows = slice(part * 1000, (part + 1) * 1000)
        write_shard(tmp_path / "shards" / f"audio-r000-d0-b{part:06d}", emb[rows],
                    [f"a{i}" for i in range(rows.start, rows.stop)], "audio")
    text = _run(["index", "build", "--shards", str(tmp_path / "shards"), "--out", str(tmp_path / "idx"),
                 "--ann", "IVF16,Flat", "--no-progress"])
    assert "4000 rows" in text and "ANN IVF16,Flat: audio IVF16,Flat (nprobe" in text and "recall@10" in text
    info = json.loads(_run(["index", "info", str(tmp_path / "idx")]))
    assert info["ann"]["modalities"]["audio"]["rows"] == 4000
    assert "every file matches" in _run(["index", "verify", str(tmp_path / "idx")])
    np.save(tmp_path / "q.npy", emb[17].numpy())
    base = ["query", "--index", str(tmp_path / "idx"), "--vector", str(tmp_path / "q.npy"), "-k", "1"]
    for extra in ([], ["--nprobe", "16"], ["--backend", "exact"]):
        assert _run(base + extra).split()[3] == "a17"
    with pytest.raises(InputError, match="add --ann SPEC"):
        _run(["index", "build", "--shards", str(tmp_path / "shards"), "--out", str(tmp_path / "x"), "--nprobe", "4"])
    with pytest.raises(InputError, match="faiss cannot build"):
        _run(["index", "build", "--shards", str(tmp_path / "shards"), "--out", str(tmp_path / "x"), "--ann", "IVFx"])
    assert not (tmp_path / "x").exists()  # nothing half-written
