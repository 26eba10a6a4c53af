"""One unreadable-sample policy: training data and batch inference skip or fail the same way."""
from __future__ import annotations

import pytest
from training_helpers import write_thermal_manifest

import imagebind_lite as ib
from imagebind_lite.data.bad_samples import BadSample, check_policy, fail_on_bad, read_or_bad, split_bad
from imagebind_lite.data.manifest import read_manifest
from imagebind_lite.errors import InputError
from imagebind_lite.inference import embed_to_shards
from imagebind_lite.training import ManifestPairDataset, PairCollate, PairDataModule


@pytest.fixture()
def corrupt(tmp_path):
    """A (vision, thermal) manifest whose fourth thermal image is not a png."""
    manifest = write_thermal_manifest(tmp_path, n=6)
    bad = tmp_path / "thermal" / "003.png"
    bad.write_bytes(b"\x89PNG garbage")
    model = ib.MultiModalModel({"thermal": ib.create_encoder("thermal/tiny"),
                                "vision": ib.create_encoder("vision/tiny")})
    return manifest, bad, model


def _training_batch(manifest, model, policy):
    transforms = {m: model.transform(m) for m in ("vision", "thermal")}
    dataset = ManifestPairDataset(manifest, "thermal", transforms, on_bad_sample=policy)
    batch = PairCollate("thermal")([dataset[i] for i in range(len(dataset))])
    return batch


def _rows(manifest):
    parsed = read_manifest(manifest, ["thermal"])
    return [(parsed.sample_id(i), parsed.item(i, "thermal"), str(parsed.item(i, "thermal")))
            for i in range(len(parsed))]


def test_skip_lists_the_same_file_in_training_and_inference(corrupt, tmp_path):
    manifest, bad, model = corrupt
    batch = _training_batch(manifest, model, "skip")
    assert [(b.id, b.modality, b.source) for b in batch["skipped"]] == [("s003", "thermal", str(bad))]
    assert len(batch["ids"]) == 5
    summary = embed_to_shards(model, "thermal", _rows(manifest), tmp_path / "shards", progress=False,
                              accelerator="cpu")
    assert summary["skipped"] == [str(bad)] and summary["embedded"] == 5


def test_fail_raises_one_error_naming_file_and_modality_in_both(corrupt, tmp_path):
    manifest, bad, model = corrupt
    batch = _training_batch(manifest, model, "fail")
    with pytest.raises(InputError) as training:
        fail_on_bad(batch["skipped"], "fail")
    two_rows = 2 * model.embed_dim * 4 / 2 ** 20  # MiB: shards of two rows, so s000-s001 complete before s003
    with pytest.raises(InputError) as inference:
        embed_to_shards(model, "thermal", _rows(manifest), tmp_path / "shards", on_bad_sample="fail",
                        progress=False, accelerator="cpu", batch_size=2, shard_mb=two_rows)
    assert str(training.value) == str(inference.value)
    assert training.value.source == str(bad) and training.value.modality == "thermal"
    assert "unreadable sample 's003'" in str(training.value) and "Traceback" not in str(training.value)
    assert len(list((tmp_path / "shards").glob("*.safetensors"))) == 1  # the shard before the bad file is kept


def test_unknown_policy_is_refused_the_same_way_everywhere(corrupt, tmp_path):
    manifest, _, model = corrupt
    with pytest.raises(InputError, match="on_bad_sample must be one of") as direct:
        check_policy("ignore")
    with pytest.raises(InputError) as training:
        PairDataModule(manifests={"thermal": str(manifest)}, on_bad_sample="ignore")
    with pytest.raises(InputError) as inference:
        embed_to_shards(model, "thermal", _rows(manifest), tmp_path / "s", on_bad_sample="ignore")
    assert str(direct.value) == str(training.value) == str(inference.value)


def test_read_or_bad_keeps_the_message_without_the_location_prefix():
    def unreadable():
        raise InputError("cannot decode", modality="audio", source="a.wav")

    bad = read_or_bad(unreadable, "s1", "audio", "a.wav")
    assert bad == BadSample("s1", "audio", "a.wav", "cannot decode")
    assert read_or_bad(lambda: 3, "s2", "audio", "b.wav") == 3
    good, skipped = split_bad([("x", 1), ("y", bad)], lambda item: item[1])
    assert good == [("x", 1)] and skipped == [bad]
    fail_on_bad(skipped, "skip")  # "skip" never raises
    with pytest.raises(RuntimeError):  # a bug is not bad data: it is never turned into a skip
        read_or_bad(lambda: (_ for _ in ()).throw(RuntimeError("bug")), "s3", "audio", "c.wav")
