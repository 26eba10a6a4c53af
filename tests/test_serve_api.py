"""The serve JSON API through Starlette's ASGI test client: queries, files, previews, refusals, threads."""
import io
import json
import threading

import pytest
import torch
from PIL import Image
from starlette.testclient import TestClient

from imagebind_lite.retrieval import EmbeddingIndex, query_vector
from imagebind_lite.serving import Limits, QueryEngine, create_app
from serve_fixtures import MODALITIES, N, build_served_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_served_world(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def engine(world):
    return QueryEngine(world["model"], world["index"])


@pytest.fixture(scope="module")
def client(engine):
    return TestClient(create_app(engine), raise_server_exceptions=False)


def ask(client, **payload):
    response = client.post("/api/query", json=payload)
    assert response.status_code == 200, response.text
    return response.json()


def upload(client, files, query=None, **fields):
    data = dict(fields)
    if query is not None:
        data["query"] = json.dumps(query)
    return client.post("/api/query", data=data, files=files)


def test_info_describes_the_index_and_what_the_model_embeds(client):
    info = client.get("/api/info").json()
    assert info["rows"] == N * len(MODALITIES) and info["modalities"] == {m: N for m in MODALITIES}
    assert info["backend"] == "exact" and info["ann"] is None
    assert ".wav" in info["query_modalities"]["audio"]["extensions"] and info["query_modalities"]["text"]["strings"]
    assert client.get("/api/health").json() == {"status": "ok"}


def test_text_query_returns_ranked_rows_with_their_files(client, world):
    data = ask(client, text="a dog barking", k=4, modality="audio")
    hits = data["results"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4] and data["backend"] == "exact"
    assert all(h["modality"] == "audio" and h["kind"] == "audio" and h["preview"] for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    media = client.get(hits[0]["media"])
    assert media.status_code == 200 and media.headers["content-type"] == "audio/wav"
    with open(hits[0]["source"], "rb") as fh:
        assert media.content == fh.read()
    text_hits = ask(client, text="a dog", k=N, modality=["text"])["results"]
    assert {h["source"] for h in text_hits} == set(world["texts"]) and all("media" not in h for h in text_hits)
    same = client.get("/api/query", params={"text": "a dog barking", "k": 4, "modality": "audio"}).json()
    assert [h["id"] for h in same["results"]] == [h["id"] for h in hits]


def test_per_modality_gives_the_top_k_of_each(client):
    hits = ask(client, text="a dog", k=2, per_modality=True)["results"]
    assert [h["modality"] for h in hits] == [m for m in MODALITIES for _ in range(2)]
    assert [h["rank"] for h in hits] == [1, 2] * len(MODALITIES)
    overall = ask(client, text="a dog", k=2, modality="depth")["results"]
    assert [h["id"] for h in hits if h["modality"] == "depth"] == [h["id"] for h in overall]
    filtered = ask(client, text="a dog", k=3, per_modality=True, modality=["imu", "audio"])["results"]
    assert [h["modality"] for h in filtered] == ["imu"] * 3 + ["audio"] * 3


@pytest.mark.parametrize("modality, media_type", [("vision", "image/png"), ("depth", "image/png"),
                                                  ("thermal", "image/png"), ("imu", "image/svg+xml"),
                                                  ("audio", "image/svg+xml")])
def test_previews_render_every_file_modality(client, modality, media_type):
    hit = ask(client, text="a kettle", k=1, modality=modality)["results"][0]
    response = client.get(hit["preview"])
    assert response.status_code == 200 and response.headers["content-type"] == media_type
    if media_type == "image/png":
        image = Image.open(io.BytesIO(response.content))
        assert image.mode == "RGB" and min(image.size) >= 16
        assert len(set(image.getdata())) > 4  # a picture, not a blank
    elif modality == "imu":
        assert response.content.count(b"<polyline") == 6  # six IMU channels
    else:
        assert response.content.count(b"<polygon") == 1  # the waveform's envelope


def test_uploaded_file_finds_itself(client, world):
    wav = world["files"]["audio"][2]
    with open(wav, "rb") as fh:
        hit = upload(client, {"f0": ("clip.wav", fh, "audio/wav")}, modality="audio", k="1").json()["results"][0]
    assert hit["id"] == "audio:eval-000002" and hit["score"] == pytest.approx(1.0, abs=1e-4)


def test_ambiguous_upload_needs_its_modality(client, world):
    png = world["files"]["depth"][1]
    with open(png, "rb") as fh:
        refused = upload(client, {"f0": ("map.png", fh, "image/png")})
    assert refused.status_code == 400 and "ambiguous" in refused.json()["error"]
    assert all(name in refused.json()["error"] for name in ("vision", "depth", "thermal"))
    with open(png, "rb") as fh:
        query = {"terms": [{"upload": "f0", "modality": "depth"}], "k": 1, "modality": "depth"}
        hit = upload(client, {"f0": ("map.png", fh, "image/png")}, query).json()["results"][0]
    assert hit["id"] == "depth:eval-000001"


def test_weighted_terms_are_embedding_arithmetic(client, world, engine):
    png = world["files"]["vision"][3]
    with open(png, "rb") as fh:
        query = {"terms": [{"text": "a drum", "weight": 0.5}, {"upload": "img", "modality": "vision"},
                           {"id": "audio:eval-000004", "weight": 2}], "k": 5}
        got = upload(client, {"img": ("x.png", fh, "image/png")}, query).json()["results"]
    model, index = engine.model, EmbeddingIndex.load(world["index"])
    text = model.embed({"text": ["a drum"]})["text"][0]
    image = model.embed({"vision": [png]})["vision"][0]
    audio = index.embeddings[index.ids.index("audio:eval-000004")]
    expected = index.search(query_vector([(text, 0.5), (image, 1.0), (audio, 2.0)]), k=5)[0]
    assert [h["id"] for h in got] == [e.id for e in expected]
    assert [h["score"] for h in got] == pytest.approx([e.score for e in expected], abs=1e-4)


BAD_JSON = [
    ({"text": "a dog", "modality": "audoi"}, 400, "this index holds vision, text, audio"),
    ({"text": "a dog", "k": 0}, 400, "k must be an integer between 1 and 200"),
    ({"text": "a dog", "k": 100000}, 400, "between 1 and 200"),
    ({"text": "a dog", "k": "many"}, 400, "k must be an integer"),
    ({}, 400, "at least one term"),
    ({"terms": "a dog"}, 400, "terms must be a list"),
    ({"terms": [{"text": "a", "upload": "b"}]}, 400, "exactly one of"),
    ({"terms": [{"text": ""}]}, 400, "non-empty string"),
    ({"terms": [{"text": "x" * 5000}]}, 400, "longer than 2000"),
    ({"terms": [{"text": "a", "weight": "heavy"}]}, 400, "finite number"),
    ({"terms": [{"text": "a", "weight": float("nan")}]}, 400, "finite number"),
    ({"terms": [{"vector": [1.0, 2.0]}]}, 400, "needs 128 numbers"),
    ({"terms": [{"vector": ["a"]}]}, 400, "finite numbers"),
    ({"terms": [{"id": "audio:../../etc/passwd"}]}, 400, "no row with id"),
    ({"terms": [{"upload": "ghost"}]}, 400, "does not carry"),
    ({"terms": [{"text": "a"}] * 9}, 400, "at most 8 terms"),
    ({"text": "a dog", "backend": "annoy"}, 400, "backend must be one of"),
    ({"text": "a dog", "nprobe": -3}, 400, "nprobe must be an integer"),
    ({"text": "a dog", "per_modality": "sometimes"}, 400, "per_modality must be true or false"),
    ({"text": "a", "terms": [{"text": "b"}], "modality": [3]}, 400, "modality must be"),
    ([1, 2, 3], 400, "JSON object"),
]


@pytest.mark.parametrize("payload, status, message", BAD_JSON)
def test_bad_queries_are_4xx_with_a_clear_message(client, payload, status, message):
    response = client.post("/api/query", content=json.dumps(payload), headers={"content-type": "application/json"})
    assert response.status_code == status and message in response.json()["error"], response.text


@pytest.mark.parametrize("name, body, modality, status, message", [
    ("noise.wav", b"RIFF\x00\x00 this is not a wav file", "audio", 422, "cannot decode"),
    ("empty.wav", b"", "audio", 422, "empty"),
    ("photo.jpg", b"\xff\xd8\xff not really a jpeg", "vision", 422, "'vision'"),
    ("motion.csv", b"a,b\nx,y\n", "imu", 422, "imu"),
    ("clip.xyz", b"1234", None, 400, "no modality of the model"),
    ("clip.wav", b"1234", "smell", 400, "unknown modality 'smell'"),
    ("clip.wav", b"1234", "vision", 422, "unsupported file type '.wav'"),
])
def test_bad_uploads_are_4xx_with_a_clear_message(client, name, body, modality, status, message):
    term = {"upload": "f0", **({"modality": modality} if modality else {})}
    response = upload(client, {"f0": (name, io.BytesIO(body), "application/octet-stream")}, {"terms": [term]})
    assert response.status_code == status and message in response.json()["error"], response.text


def test_malformed_requests_and_unknown_rows(client, world, tmp_path):
    assert client.post("/api/query", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/api/query", content=b"text=a", headers={"content-type": "text/plain"}).status_code == 415
    bad_multipart = client.post("/api/query", content=b"--x\r\ngarbage", headers={"content-type": "multipart/form-data; boundary=x"})
    assert 400 <= bad_multipart.status_code < 500
    assert client.post("/api/query", data={"query": "{oops"}, files={"f": ("a.wav", b"1")}).status_code == 400
    for path in ("/api/media/99999", "/api/preview/99999", "/api/media/-1", "/api/media/..%2F..%2Fetc%2Fpasswd",
                 "/api/media/../../etc/passwd", "/nowhere", "/static/../engine.py"):
        response = client.get(path)
        assert response.status_code == 404, path
    text_row = ask(client, text="a", k=1, modality="text")["results"][0]["row"]
    assert "has no file" in client.get(f"/api/media/{text_row}").json()["error"]
    assert client.delete("/api/query").status_code == 405


def test_missing_indexed_file_is_a_404(world, tmp_path):
    import shutil

    moved = tmp_path / "world"
    shutil.copytree(world["root"] / "world", moved)
    index = EmbeddingIndex.load(world["index"])
    relocated = EmbeddingIndex(index.dim)
    sources = [s.replace(str(world["root"] / "world"), str(moved)) for s in index.sources]
    relocated.add(index.embeddings, index.ids, index.modalities, sources)
    relocated.save(tmp_path / "index")
    client = TestClient(create_app(QueryEngine(world["model"], tmp_path / "index")), raise_server_exceptions=False)
    hit = ask(client, text="a", k=1, modality="vision")["results"][0]
    (moved / "eval" / hit["source"].split("/eval/")[1]).unlink()
    response = client.get(hit["media"])
    assert response.status_code == 404 and "missing" in response.json()["error"]
    assert client.get(hit["preview"]).status_code == 404


def test_upload_size_limit(world):
    engine = QueryEngine(world["model"], world["index"], limits=Limits(max_upload_bytes=2000))
    client = TestClient(create_app(engine), raise_server_exceptions=False)
    response = upload(client, {"f0": ("big.wav", io.BytesIO(b"x" * 5000), "audio/wav")})
    assert response.status_code == 413 and "upload limit of 2000 bytes" in response.json()["error"]

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        for _ in range(10):
            yield b"y" * 500

    streamed = client.post("/api/query", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert client.post("/api/query", json={"text": "a dog"}).status_code == 200  # small requests pass


def test_model_and_index_of_different_dimensions_are_refused(world, tmp_path):
    from imagebind_lite.errors import InputError

    other = EmbeddingIndex(16)
    other.add(torch.randn(2, 16), ["a", "b"], "audio")
    with pytest.raises(InputError, match="do not belong together"):
        QueryEngine(world["model"], other.save(tmp_path / "idx16"))


def test_concurrent_queries_get_the_answers_they_would_get_alone(engine, world):
    app = create_app(engine)
    texts = ["a dog", "a kettle", "a drum", "a boat", "a fan", "a bell", "a cat", "a car"]
    expected = {}
    with TestClient(app) as solo:
        for t in texts:
            expected[t] = [h["id"] for h in ask(solo, text=t, k=5)["results"]]
        wav = world["files"]["audio"][0].read_bytes()
        expected["wav"] = [h["id"] for h in upload(solo, {"f": ("a.wav", wav)}, k="5").json()["results"]]
    got, errors = [], []

    def worker(i):
        try:
            with TestClient(app) as mine:
                for rep in range(3):
                    key = texts[(i + rep) % len(texts)] if (i + rep) % 3 else "wav"
                    if key == "wav":
                        answer = upload(mine, {"f": ("a.wav", wav)}, k="5").json()
                    else:
                        answer = ask(mine, text=key, k=5)
                    got.append((key, [h["id"] for h in answer["results"]]))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 24
    assert all(ids == expected[key] for key, ids in got)


def test_the_page_and_its_assets_are_served_without_outside_references(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    bodies = page.text + client.get("/static/app.js").text + client.get("/static/style.css").text
    assert "http://" not in bodies and "https://" not in bodies and "//cdn" not in bodies  # works offline
