"""``imagebind-lite serve`` as a real process on a free loopback port, queried over HTTP."""
import json
import threading
import urllib.parse

import httpx
import pytest

from serve_fixtures import MODALITIES, N, build_served_world, get_json, serve_process


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    world = build_served_world(tmp_path_factory.mktemp("serve_e2e"))
    with serve_process(world["model"], world["index"]) as (base, process):
        yield world, base, process


def test_serve_answers_text_file_and_concurrent_queries_over_http(served):
    world, base, _ = served
    info = get_json(base + "/api/info")
    assert info["rows"] == N * len(MODALITIES)
    query = urllib.parse.urlencode({"text": "the sound of a dog", "k": 3, "modality": "audio"})
    hits = get_json(f"{base}/api/query?{query}")["results"]
    assert len(hits) == 3 and all(h["modality"] == "audio" for h in hits)
    with httpx.Client(base_url=base, timeout=60) as client:
        assert client.get(hits[0]["media"]).content == open(hits[0]["source"], "rb").read()
        wav = world["files"]["audio"][1]
        answer = client.post("/api/query", data={"query": json.dumps({"terms": [{"upload": "f"}], "k": 1})},
                             files={"f": ("x.wav", wav.read_bytes(), "audio/wav")})
        assert answer.status_code == 200 and answer.json()["results"][0]["id"] == "audio:eval-000001"
        refused = client.post("/api/query", json={"text": "a dog", "modality": "audoi"})
        assert refused.status_code == 400 and "this index holds" in refused.json()["error"]
        expected = {t: [h["id"] for h in client.post("/api/query", json={"text": t, "k": 4}).json()["results"]]
                    for t in ("a dog", "a kettle", "a drum", "a boat")}
    got, errors = [], []

    def worker(i):
        try:
            with httpx.Client(base_url=base, timeout=60) as mine:
                for rep in range(3):
                    text = list(expected)[(i + rep) % 4]
                    got.append((text, [h["id"] for h in mine.post("/api/query", json={"text": text, "k": 4})
                                       .json()["results"]]))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 24 and all(ids == expected[text] for text, ids in got)


def test_serve_refuses_a_missing_index_with_a_clear_error(tmp_path, served, capsys):
    from imagebind_lite.cli import main

    world, _, _ = served
    assert main(["serve", "--model", str(world["model"]), "--index", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "meta.json is missing" in err and "Traceback" not in err
