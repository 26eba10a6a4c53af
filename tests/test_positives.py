"""Several positives per image: the manifest forms, one image per pass, "sample" and "all"
batches, bad positives, caching, and real fits (targets under DDP: test_grad_cache_ddp.py)."""
from __future__ import annotations

import pytest
import torch
from training_helpers import CAPTIONS, trainer, write_caption_manifest

from imagebind_lite.data.manifest import Positive, positive_groups, read_manifest
from imagebind_lite.errors import InputError
from imagebind_lite.training import AlignmentModule, PairDataModule
from imagebind_lite.training.positives import MultiPositivePairDataset, PositivesCollate, PositivesPairLoader


def _dataset(manifest, positives="sample", **kwargs):
    transforms = {"vision": lambda raw, source: torch.full((3, 2, 2), float(str(raw).split("/")[-1][0])),
                  "text": lambda raw, source: torch.tensor([float(len(raw))])}
    return MultiPositivePairDataset(manifest, "text", transforms, positives, **kwargs)


@pytest.mark.parametrize("form", ["rows", "jsonl"])
def test_both_manifest_forms_group_positives_by_image(tmp_path, form):
    manifest = read_manifest(write_caption_manifest(tmp_path, form))
    groups = positive_groups(manifest, "vision", "text")
    assert [len(g) for g in groups] == [len(c) for c in CAPTIONS]
    texts = [[manifest.item(p.row, "text", True, p.element) for p in g] for g in groups]
    assert texts == CAPTIONS
    if form == "jsonl":
        assert groups[2] == [Positive(2, 0), Positive(2, 1), Positive(2, 2)]
        with pytest.raises(InputError, match="holds 3 'text' values"):
            manifest.item(2, "text", True)


def test_text_anchors_are_not_grouped_by_equal_text(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("text,audio\na dog,1.wav\na dog,2.wav\n")
    assert len(positive_groups(read_manifest(path), "text", "audio", anchor_is_file=False)) == 2


def _passes(dataset, epochs, world_size=1, rank=0, batch_size=3):
    loader = PositivesPairLoader(dataset, batch_size, PositivesCollate("text", several=dataset.positives == "all"),
                                 seed=7, rank=rank, world_size=world_size)
    out = []
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        out.append(list(loader))
    return out


def test_sample_mode_one_positive_per_image_per_pass_drawn_afresh(tmp_path):
    dataset = _dataset(write_caption_manifest(tmp_path))
    passes = _passes(dataset, epochs=4, batch_size=2)
    seen_lengths = set()
    for batches in passes:
        ids = [i for batch in batches for i in batch["ids"]]
        assert len(ids) == len(set(ids)) == len(CAPTIONS)  # every image once, never twice
        seen_lengths |= {(i, int(t)) for batch in batches for i, t in zip(batch["ids"], batch["text"][:, 0])}
        assert all("owner" not in batch for batch in batches)
    assert len({length for i, length in seen_lengths if i == "c2-0"}) > 1  # the kettle's captions vary by epoch
    assert [[list(b["ids"]) for b in p] for p in passes] == [[list(b["ids"]) for b in p]
                                                               for p in _passes(dataset, epochs=4, batch_size=2)]


def test_sharded_ranks_see_each_image_once_with_the_draws_of_one_process(tmp_path):
    dataset = _dataset(write_caption_manifest(tmp_path))
    single = _passes(dataset, 1, batch_size=8)[0][0]
    ranks = [_passes(dataset, 1, world_size=2, rank=r, batch_size=4)[0][0] for r in range(2)]
    merged = {i: t for batch in ranks for i, t in zip(batch["ids"], batch["text"][:, 0].tolist())}
    assert len(merged) == 8 and merged == dict(zip(single["ids"], single["text"][:, 0].tolist()))


def test_all_mode_batches_every_positive_with_its_owner(tmp_path):
    dataset = _dataset(write_caption_manifest(tmp_path, "jsonl"), positives="all")
    (batch, *_), = _passes(dataset, 1, batch_size=4)
    owner = batch["owner"]
    assert len(batch["ids"]) == 4 and len(set(batch["ids"])) == 4
    by_id = {f"c{i}": texts for i, texts in enumerate(CAPTIONS)}
    expected = [float(len(t)) for i in batch["ids"] for t in by_id[i]]
    assert batch["text"][:, 0].tolist() == expected
    assert owner.tolist() == [j for j, i in enumerate(batch["ids"]) for _ in by_id[i]]


def test_bad_positives_are_skipped_and_reported(tmp_path):
    captions = [["ok", ""], ["", ""], ["fine"], ["also fine", "", "yes"]]  # "" cells cannot be read
    path = write_caption_manifest(tmp_path, "jsonl", captions)
    several = _dataset(path, positives="all", on_bad_sample="skip")
    batch = PositivesCollate("text", several=True)([several[i] for i in range(4)])
    assert list(batch["ids"]) == ["c0", "c2", "c3"] and batch["owner"].tolist() == [0, 1, 2, 2]
    where = sorted(bad.source.split(":")[-1] for bad in batch["skipped"])
    assert where == ["row 0 [1]", "row 1 [0]", "row 1 [1]", "row 3 [1]"]  # every unreadable caption named
    one = _dataset(path, on_bad_sample="skip")
    item = one[(0, 1)]  # the drawn positive is unreadable: the image's next one stands in
    assert item["text"].item() == 2.0 and len(item["skipped"]) == 1


def _fit_captions(tmp_path, positives, **module_kwargs):
    manifest = write_caption_manifest(tmp_path, "rows")
    model = AlignmentModule(pivot="vision/tiny", modalities={"text": "tiny"}, warmup_steps=1, total_steps=4,
                            **module_kwargs)
    data = PairDataModule(manifests={"text": str(manifest)}, val_manifests={"text": str(manifest)}, batch_size=4,
                          positives=positives, cache_inputs=True)
    run = trainer(tmp_path, max_steps=-1, max_epochs=2, limit_val_batches=1)
    run.fit(model, data)
    return run, data


@pytest.mark.parametrize("positives,loss", [("sample", "infonce"), ("all", "infonce"), ("all", "sigmoid")])
def test_lightning_fit_on_a_caption_manifest(tmp_path, positives, loss):
    run, data = _fit_captions(tmp_path, positives, loss={"text": loss})
    assert len(data.train_sets["text"]) == len(CAPTIONS) and run.global_step == 4  # 8 images, 2 per epoch
    assert data.val_sets["text"].positives == "sample"  # validation: first caption of each image
    assert torch.isfinite(run.callback_metrics["train/text/loss"])
    assert "val/text/r1_image_to_text" in run.callback_metrics


def test_plain_manifests_keep_the_row_dataset_and_bad_modes_raise(tmp_path):
    from training_helpers import module, write_thermal_manifest

    data = PairDataModule(manifests={"thermal": str(write_thermal_manifest(tmp_path, n=8))}, batch_size=4,
                          use_pivot_cache=False)
    model = module()
    data.bind(model.pivot, model.data_configs()).setup("fit")
    assert type(data.train_sets["thermal"]).__name__ == "ManifestPairDataset"
    with pytest.raises(InputError, match="positives must be one of"):
        PairDataModule(manifests={"text": "x.csv"}, positives={"text": "every"})


def test_a_resumed_pass_draws_the_same_positives(tmp_path):
    dataset = _dataset(write_caption_manifest(tmp_path))
    collate = PositivesCollate("text")
    straight = list(PositivesPairLoader(dataset, 2, collate, seed=3))
    resumed = PositivesPairLoader(dataset, 2, collate, seed=3)
    resumed.resume_from((0, 0, 1))  # the checkpoint was written after batch 1
    rest = list(resumed)
    assert [b["cursor"] for b in rest] == [b["cursor"] for b in straight[2:]]
    for got, want in zip(rest, straight[2:]):
        assert list(got["ids"]) == list(want["ids"]) and torch.equal(got["text"], want["text"])


def test_ddp_trim_to_the_smallest_rank_keeps_each_images_rows(monkeypatch):
    """Under DDP every rank must score as many images (skips shrink some batches): an image
    cut from the batch takes its captions with it."""
    import torch.distributed as dist

    from training_helpers import module

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(dist, "all_reduce", lambda size, op=None: size.fill_(2))  # the other rank has 2 images
    pair = {"ids": torch.arange(3).numpy(), "labels": torch.tensor([5, 6, 7]), "pivot_emb": torch.eye(3),
            "thermal": torch.arange(6.0)[:, None], "owner": torch.tensor([0, 0, 1, 2, 2, 1]), "skipped": []}
    trimmed = module()._common_size("thermal", pair)
    assert list(trimmed["ids"]) == [0, 1] and trimmed["labels"].tolist() == [5, 6]
    assert trimmed["owner"].tolist() == [0, 0, 1, 1] and trimmed["thermal"][:, 0].tolist() == [0, 1, 2, 5]
    assert trimmed["pivot_emb"].shape == (2, 3)
