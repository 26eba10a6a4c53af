"""Streaming tar shards: the writer, the reader's split over ranks and workers, the shuffle
buffer, resuming, bad samples and broken shards, training from shards, the CLI."""
from __future__ import annotations

import importlib.util
import io
import json
import os
import tarfile
from collections import Counter
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import soundfile
import torch
from gloo_helpers import spawn_gloo
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image
from training_helpers import module, trainer, write_thermal_manifest

from imagebind_lite.cli import main
from imagebind_lite.data.shard_writer import write_shards
from imagebind_lite.data.shards import resolve_shards
from imagebind_lite.errors import InputError
from imagebind_lite.factory import create_encoder
from imagebind_lite.modality import EncodedFile
from imagebind_lite.registry import get_modality
from imagebind_lite.training import ManifestPairDataset, PairCollate, PairDataModule
from imagebind_lite.training.stream_dataset import (
    PassSpec,
    StreamPairLoader,
    stream_dataset,
)

PAIR = ("vision", "thermal")


@pytest.fixture(scope="module")
def transforms():
    return {m: get_modality(m).transform(create_encoder(f"{m}/tiny").config.data) for m in PAIR}


def _shards(root: Path, n: int, per_shard: int = 3, bad: int | None = None) -> tuple[Path, Path]:
    manifest = write_thermal_manifest(root, n=n)
    if bad is not None:
        (root / "thermal" / f"{bad:03d}.png").write_bytes(b"\x89PNG garbage")
    write_shards(manifest, root / "shards", samples_per_shard=per_shard)
    return manifest, root / "shards"


def _loader(shards, transforms, policy="fail", buffer=4, **kwargs):
    dataset = stream_dataset(str(shards), "thermal", transforms, on_bad_sample=policy, shuffle_buffer=buffer)
    kwargs.setdefault("shuffle", False)
    return StreamPairLoader(dataset, kwargs.pop("batch_size", 2), PairCollate("thermal"), on_bad_sample=policy,
                            **{"rank": 0, "world_size": 1, **kwargs})


def _ids(loader) -> list[list[str]]:
    return [list(batch["ids"]) for batch in loader]


def test_round_trip_gives_the_manifest_samples_and_tensors(tmp_path, transforms):
    manifest, shards = _shards(tmp_path, n=10)
    index = json.loads((shards / "index.json").read_text())
    assert [s["samples"] for s in index["shards"]] == [3, 3, 3, 1] and index["samples"] == 10
    reference = ManifestPairDataset(manifest, "thermal", transforms)
    expected = {reference.sample_id(i): reference[i] for i in range(len(reference))}
    seen = []
    for batch in _loader(shards, transforms, drop_last=False):
        for row, sample_id in enumerate(batch["ids"]):
            seen.append(sample_id)
            assert torch.equal(batch["pivot"][row], expected[sample_id]["pivot"])
            assert torch.equal(batch["thermal"][row], expected[sample_id]["thermal"])
            assert batch["labels"][row] == expected[sample_id]["label"]
    assert seen == [reference.sample_id(i) for i in range(10)]  # unshuffled: stored order


def _add(tar, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_audio_members_decode_from_memory_as_their_files_do(tmp_path):
    """wav through libsndfile from memory; a broken one still names the shard member."""
    transforms = {m: get_modality(m).transform(create_encoder(f"{m}/tiny").config.data) for m in ("vision", "audio")}
    rng = np.random.default_rng(0)
    rows = ["id,label,vision,audio"]
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        soundfile.write(tmp_path / f"{i}.wav", 0.1 * rng.standard_normal((16000, 2)), 16000)
        rows.append(f"a{i},{i},{i}.png,{i}.wav")
    (tmp_path / "2.wav").write_bytes(b"RIFF broken")
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    write_shards(tmp_path / "pairs.csv", tmp_path / "shards")
    dataset = stream_dataset(str(tmp_path / "shards"), "audio", transforms, on_bad_sample="skip")
    batch = next(iter(StreamPairLoader(dataset, 3, PairCollate("audio"), shuffle=False, on_bad_sample="skip",
                                       rank=0, world_size=1)))
    for row, i in enumerate((0, 1)):
        assert torch.equal(batch["audio"][row], transforms["audio"](tmp_path / f"{i}.wav"))
    assert batch["skipped"][0].source.endswith("shard-000000.tar:000000002.audio.wav")
    assert batch["skipped"][0].modality == "audio"


def test_a_reader_error_names_the_member_not_the_temporary_file():
    png = io.BytesIO()
    Image.new("L", (8, 8), 3).save(png, format="PNG")  # 8-bit: carries no metric depth
    with pytest.raises(InputError, match="no metric depth") as failed:
        get_modality("depth").load(EncodedFile(png.getvalue(), "s.tar:000000001.depth.png"))
    assert failed.value.source == "s.tar:000000001.depth.png" and failed.value.modality == "depth"
    assert "ibl-bytes" not in str(failed.value)


def test_plain_webdataset_members_and_captions_are_read(tmp_path):
    """``<key>.jpg`` / ``<key>.txt`` / ``<key>.cls`` shards written by other tools; text goes
    through the same tokenizer as a manifest's caption cell."""
    transforms = {m: get_modality(m).transform(create_encoder(f"{m}/tiny").config.data) for m in ("vision", "text")}
    image = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(image, format="JPEG")
    with tarfile.open(tmp_path / "web-0.tar", "w") as tar:
        for key, caption in (("a1", "a red square"), ("a2", None), ("a3", "a square")):
            _add(tar, f"{key}.jpg", image.getvalue())
            if caption:
                _add(tar, f"{key}.txt", caption.encode())
            _add(tar, f"{key}.cls", b"4")
        _add(tar, "a3.json", b"{not json")
    dataset = stream_dataset(str(tmp_path / "web-*.tar"), "text", transforms, on_bad_sample="skip")
    loader = StreamPairLoader(dataset, 3, PairCollate("text"), shuffle=False, on_bad_sample="skip", rank=0, world_size=1)
    batch = next(iter(loader))
    assert list(batch["ids"]) == ["a1"] and batch["labels"].tolist() == [4]
    assert torch.equal(batch["text"][0], transforms["text"]("a red square"))
    no_text, bad_meta = batch["skipped"]
    assert no_text.id == "a2" and "no 'text' member" in no_text.message
    assert bad_meta.source.endswith("web-0.tar:a3.json") and "not JSON" in bad_meta.message


def test_shuffle_buffer_changes_the_order_and_keeps_the_set(tmp_path, transforms):
    _, shards = _shards(tmp_path, n=12)
    plain = sum(_ids(_loader(shards, transforms)), [])
    loader = _loader(shards, transforms, shuffle=True, seed=3)
    first, again = sum(_ids(loader), []), None
    loader.set_epoch(0)
    again = sum(_ids(loader), [])
    loader.set_epoch(1)
    second = sum(_ids(loader), [])
    assert sorted(first) == sorted(plain) == sorted(second)
    assert first != plain and first != second and first == again  # seeded: same epoch, same order


@pytest.mark.parametrize("n,per_shard,batch,drop_last", [(16, 3, 2, True), (23, 4, 3, True), (23, 5, 2, False)])
def test_every_rank_and_worker_slot_reads_disjoint_samples_with_equal_steps(tmp_path, transforms, n, per_shard,
                                                                           batch, drop_last):
    _, shards = _shards(tmp_path, n=n, per_shard=per_shard)
    dataset = stream_dataset(str(shards), "thermal", transforms, shuffle_buffer=4)
    seen, steps = Counter(), []
    for rank in range(2):
        spec = PassSpec(seed=1, epoch=2, rank=rank, world_size=2, workers=2, batch_size=batch, drop_last=drop_last)
        rank_samples = [record.key for w in range(2) for record in dataset.slot_records(spec, w)]
        seen.update(rank_samples)
        steps.append(dataset.shape(spec).batches)
        assert len(rank_samples) == (n // 2 // batch * batch if drop_last else n // 2)
    assert max(seen.values()) == 1 and steps[0] == steps[1]
    if n % (2 * batch) == 0:
        assert len(seen) == n  # nothing left out when the batches divide the data


def test_two_ranks_with_two_dataloader_workers_cover_every_sample_once(tmp_path, transforms):
    _, shards = _shards(tmp_path, n=16, per_shard=3)
    batches = [_ids(_loader(shards, transforms, shuffle=True, rank=r, world_size=2, num_workers=2)) for r in range(2)]
    assert len(batches[0]) == len(batches[1]) == 4
    every = Counter(sample for rank in batches for batch in rank for sample in batch)
    assert len(every) == 16 and set(every.values()) == {1}


def _ddp_rank(rank: int, shards: str, out_dir: str) -> None:
    data = {m: get_modality(m).transform(create_encoder(f"{m}/tiny").config.data) for m in PAIR}
    loader = _loader(shards, data, shuffle=True, rank=None, world_size=None)  # rank and size from gloo
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(_ids(loader)))


@pytest.mark.slow  # two spawned processes importing torch: most of a minute on a loaded machine
def test_gloo_ranks_split_the_shards(tmp_path):
    _, shards = _shards(tmp_path, n=12, per_shard=5)
    spawn_gloo(_ddp_rank, str(shards), str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 3
    every = Counter(sample for rank in ranks for batch in rank for sample in batch)
    assert len(every) == 12 and set(every.values()) == {1}


def test_resume_mid_epoch_continues_with_the_next_batch(tmp_path, transforms):
    _, shards = _shards(tmp_path, n=16, per_shard=3)
    loader = _loader(shards, transforms, shuffle=True, num_workers=2, seed=5)
    loader.set_epoch(1)
    whole = list(loader)
    assert len(whole) == 8 and whole[2]["cursor"] == (1, 0, 2)
    resumed = _loader(shards, transforms, shuffle=True, num_workers=2, seed=5)
    resumed.resume_from(whole[2]["cursor"])
    rest = list(resumed)
    assert [b["cursor"] for b in rest] == [b["cursor"] for b in whole[3:]]
    assert [list(b["ids"]) for b in rest] == [list(b["ids"]) for b in whole[3:]]
    assert all(torch.equal(a["thermal"], b["thermal"]) for a, b in zip(rest, whole[3:]))


def test_a_checkpoint_from_another_split_restarts_the_interrupted_pass(tmp_path, transforms, caplog):
    _, shards = _shards(tmp_path, n=12, per_shard=5)
    whole = [list(b["ids"]) for b in _loader(shards, transforms, shuffle=True, num_workers=2)]
    saved = _loader(shards, transforms, shuffle=True).state_dict()  # written by a run with no workers
    resumed = _loader(shards, transforms, shuffle=True, num_workers=2)
    resumed.load_state_dict(saved)
    resumed.resume_from((0, 0, 2))
    assert [list(b["ids"]) for b in resumed] == whole  # the whole pass again, in the same order
    assert "restarts from its beginning" in caplog.text


def test_a_corrupt_member_is_skipped_and_reported_or_fails_naming_it(tmp_path, transforms):
    _, shards = _shards(tmp_path, n=8, per_shard=4, bad=5)
    member = f"{shards.resolve() / 'shard-000001.tar'}:000000005.thermal.png"
    batches = list(_loader(shards, transforms, policy="skip", batch_size=4))
    skipped = [bad for batch in batches for bad in batch["skipped"]]
    assert [(b.id, b.modality, b.source) for b in skipped] == [("s005", "thermal", member)]
    assert sum(len(b["ids"]) for b in batches) == 7
    with pytest.raises(InputError) as failed:
        list(_loader(shards, transforms, policy="fail", batch_size=4))
    assert failed.value.source == member and failed.value.modality == "thermal"
    assert "unreadable sample 's005'" in str(failed.value)


def test_a_truncated_shard_is_a_clear_error(tmp_path, transforms):
    _, shards = _shards(tmp_path, n=8, per_shard=4)
    broken = shards / "shard-000001.tar"
    broken.write_bytes(broken.read_bytes()[:5000])  # cut inside the first sample's image
    with pytest.raises(InputError) as failed:
        list(_loader(shards, transforms, batch_size=4))
    assert failed.value.source == str(broken.resolve()) and "truncated or corrupt tar shard" in str(failed.value)
    batches = list(_loader(shards, transforms, policy="skip", batch_size=4))
    assert len(batches) == 2 and sum(len(b["ids"]) for b in batches) == 4  # the step count holds
    assert {b.source for b in batches[1]["skipped"]} == {str(broken.resolve())}


def test_a_shard_that_ends_early_is_reported_against_its_index(tmp_path, transforms):
    _, shards = _shards(tmp_path, n=8, per_shard=4)
    index = json.loads((shards / "index.json").read_text())
    index["shards"][1]["samples"] = 5  # the index promises one more sample than the tar holds
    (shards / "index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match="shard ended after 4 sample"):
        list(_loader(shards, transforms, batch_size=3))


def test_fit_from_shards_runs_and_checkpoints_the_stream_position(tmp_path):
    _, shards = _shards(tmp_path, n=16, per_shard=5)
    data = PairDataModule(shards={"thermal": str(shards / "shard-*.tar")}, batch_size=4, shuffle_buffer=8)
    fit = trainer(tmp_path, max_steps=3, enable_checkpointing=True)
    fit.fit(module(), datamodule=data)
    assert fit.global_step == 3 and "thermal" in data.train_sets
    checkpoint = torch.load(next(tmp_path.rglob("*.ckpt")), weights_only=False)
    assert checkpoint["data_cursors"]["pairs"]["thermal"] == (0, 0, 2)


def test_augmenting_a_streamed_pair_is_a_clear_error(tmp_path):
    _, shards = _shards(tmp_path, n=8, per_shard=4)
    data = PairDataModule(shards={"thermal": str(shards / "shard-*.tar")}, batch_size=4,
                          augment={"thermal": {"hflip": 0.5}})
    with pytest.raises(InputError, match="streamed shards") as error:
        trainer(tmp_path, max_steps=1).fit(module(), datamodule=data)
    assert error.value.modality == "thermal"


class _Seen(pl.Callback):
    """Records each step's ids; raises at ``crash_at`` (a killed run, checkpointed every step)."""

    def __init__(self, crash_at=None):
        self.ids, self.crash_at = [], crash_at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.crash_at:
            raise RuntimeError("simulated crash")
        self.ids.append(list(batch["thermal"]["ids"]))


def _fit_from_shards(root, shards, crash_at=None, ckpt_path=None):
    seen = _Seen(crash_at)
    data = PairDataModule(shards={"thermal": str(shards)}, batch_size=2, shuffle_buffer=4, num_workers=2)
    checkpoint = ModelCheckpoint(dirpath=str(root / "ckpt"), every_n_train_steps=1, save_last=True)
    fit = trainer(root, max_steps=8, enable_checkpointing=True, callbacks=[checkpoint, seen])
    try:
        fit.fit(module(), datamodule=data, ckpt_path=ckpt_path)
    except RuntimeError as exc:
        assert "simulated crash" in str(exc)
    return seen.ids


@pytest.mark.parametrize("crash_at", [2, 6], ids=["mid-epoch", "epoch-boundary"])  # 6 steps per epoch
def test_a_fit_resumed_from_its_checkpoint_sees_the_batches_an_uninterrupted_one_would(tmp_path, crash_at):
    _, shards = _shards(tmp_path, n=12, per_shard=5)
    whole = _fit_from_shards(tmp_path / "whole", shards)
    _fit_from_shards(tmp_path / "first", shards, crash_at=crash_at)
    rest = _fit_from_shards(tmp_path / "rest", shards, ckpt_path=str(tmp_path / "first" / "ckpt" / "last.ckpt"))
    assert rest == whole[crash_at:] and len(rest) == 8 - crash_at


def test_cli_writes_shards_atomically_with_an_index(tmp_path, capsys):
    manifest = write_thermal_manifest(tmp_path, n=7)
    out = tmp_path / "out"
    assert main(["shards", str(manifest), str(out), "--samples-per-shard", "3", "--no-progress",
                 "--modalities", "vision,thermal"]) == 0
    assert sorted(os.listdir(out)) == ["index.json", "shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert [s.samples for s in resolve_shards(str(out))] == [3, 3, 1]
    assert [s.samples for s in resolve_shards(str(out / "shard-*.tar"))] == [3, 3, 1]  # counted without the index
    assert "wrote 7 sample(s)" in capsys.readouterr().out
    one_mb = 2 ** 20
    assert main(["shards", str(manifest), str(tmp_path / "mb"), "--max-shard-mb", str(12000 / one_mb),
                 "--no-progress"]) == 0
    assert len(json.loads((tmp_path / "mb" / "index.json").read_text())["shards"]) > 1


def test_writer_skip_policy_leaves_out_and_lists_a_missing_file(tmp_path):
    manifest = write_thermal_manifest(tmp_path, n=4)
    (tmp_path / "vision" / "002.png").unlink()
    index = write_shards(manifest, tmp_path / "out", on_bad_sample="skip")
    assert index["samples"] == 3 and [s["id"] for s in index["skipped"]] == ["s002"]
    assert "002.png" in index["skipped"][0]["error"]


def test_cli_names_a_missing_file(tmp_path, capsys):
    manifest = write_thermal_manifest(tmp_path, n=3)
    (tmp_path / "thermal" / "001.png").unlink()
    assert main(["shards", str(manifest), str(tmp_path / "out"), "--no-progress"]) == 2
    assert "001.png" in capsys.readouterr().err
    assert os.listdir(tmp_path / "out") == []  # no half shard, no temporary file, no index


def test_the_streaming_benchmark_runs(tmp_path, capsys):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_streaming.py"
    spec = importlib.util.spec_from_file_location("bench_streaming", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--tiny", "--modality", "thermal", "--json", str(tmp_path / "out.json"),
                       "--workdir", str(tmp_path / "work")]) == 0
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["samples_read"] == {"manifest": 24, "stream": 24} and result["ratio_stream_over_manifest"] > 0
    assert "ratio stream / manifest" in capsys.readouterr().out
