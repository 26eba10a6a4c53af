"""Text modality: open_clip BPE tokenisation, .txt files, pre-tokenised ids, EOT pooling,
a local Hugging Face trunk, bad input."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import imagebind_lite as il
from hf_helpers import make_tiny_bert
from imagebind_lite import CheckpointError, ImageBindLiteError, InputError, UnknownNameError

SOT, EOT = 49406, 49407


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return il.MultiModalModel({"text": il.create_encoder("text/tiny")})


@pytest.fixture(scope="module")
def huge_transform():
    """The ImageBind-size data config (77 tokens); building the transform needs no weights."""
    spec = il.get_modality("text")
    return spec.transform(spec.preset("imagebind_huge").data)


def test_tokenizer_matches_open_clip_and_keeps_eot(huge_transform):
    import open_clip

    texts = ["a photo of a dog", "", "Ünïcödé café 東京 🐶 naïve", "word " * 200]
    for text in texts:
        ids = huge_transform(text)
        assert ids.shape == (77,) and ids.dtype == torch.long
        torch.testing.assert_close(ids, open_clip.tokenize([text])[0])
        assert ids[0] == SOT and ids.max() == EOT
    long_ids = huge_transform("word " * 200)
    assert long_ids[-1] == EOT and (long_ids[1:-1] != 0).all()  # truncated, EOT still last
    assert huge_transform("")[:3].tolist() == [SOT, EOT, 0]


def test_strings_files_and_token_ids_embed_to_unit_vectors(model, tmp_path):
    caption = "a red kettle on the floor, 東京 ☕"
    path = tmp_path / "caption.txt"
    path.write_text(caption + "\n", encoding="utf-8")
    ids = model.transform("text")(caption)
    inputs = [caption, path, "", ids[:5], ids.numpy()]
    embeddings = model.embed({"text": inputs})["text"]
    assert embeddings.shape == (len(inputs), 128)
    assert torch.isfinite(embeddings).all()
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(len(inputs)))
    torch.testing.assert_close(embeddings[1], embeddings[0])  # the file reads as the same text
    torch.testing.assert_close(embeddings[4], embeddings[0])  # pre-tokenised ids too


def test_a_string_ending_in_txt_is_a_path_any_other_string_is_text(model, tmp_path):
    """A path string must not be embedded as if it were the caption (a silent wrong result)."""
    path = tmp_path / "caption.txt"
    path.write_text("a blue drum")
    from_string = model.embed({"text": [str(path)]})["text"]
    from_path = model.embed({"text": [Path(path)]})["text"]
    from_text = model.embed({"text": ["a blue drum"]})["text"]
    torch.testing.assert_close(from_string, from_path)
    torch.testing.assert_close(from_string, from_text)
    as_text = model.embed({"text": [str(tmp_path / "caption")]})["text"]  # no .txt: the words themselves
    assert not torch.allclose(as_text, from_path)


def test_eot_pooling_ignores_tokens_after_eot(model):
    encoder = model.encoder("text").eval()
    ids = model.transform("text")("a photo of the dog")
    junk = ids.clone()
    end = int((ids == EOT).nonzero())
    junk[end + 1:] = torch.randint(1, 40000, (ids.numel() - end - 1,))  # causal: cannot be seen
    with torch.no_grad():
        torch.testing.assert_close(encoder(junk[None]), encoder(ids[None]))
        assert not torch.allclose(encoder(ids[None]), encoder(model.transform("text")("a photo of the cat")[None]))


def test_short_batches_run_only_up_to_their_last_eot_with_identical_results(model):
    """Positions after every EOT are cut before the trunk; outputs and gradients stay the same."""
    torch.manual_seed(0)
    encoder = il.create_encoder("text/tiny").train()
    transform = model.transform("text")
    ids = torch.stack([transform(t) for t in ("a dog", "the red kettle drum", "")])
    seen = []
    hook = encoder.trunk.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    trimmed = encoder(ids)
    hook.remove()
    assert seen == [int(ids.argmax(dim=-1).max()) + 1] and seen[0] < ids.shape[1]
    trimmed_grads = torch.autograd.grad(trimmed.sum(), list(encoder.parameters()))
    # Reference: the four stages run by hand on the full, padded context.
    full = encoder.post(encoder.head(encoder.trunk(encoder.stem(ids)), ids))
    full_grads = torch.autograd.grad(full.sum(), list(encoder.parameters()))
    torch.testing.assert_close(trimmed, full, atol=1e-6, rtol=1e-5)
    for (name, _), got, want in zip(encoder.named_parameters(), trimmed_grads, full_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4, msg=name)  # float order only


def test_a_trace_made_on_short_text_still_reads_long_text(model):
    """The cut length depends on the data, so traced graphs must not bake it in."""
    encoder = model.encoder("text").eval()
    transform = model.transform("text")
    short, long = transform("a dog")[None], transform("the red kettle and the blue drum by the old dog")[None]
    with torch.no_grad(), pytest.warns(torch.jit.TracerWarning):
        traced = torch.jit.trace(encoder, short)
        torch.testing.assert_close(traced(long), encoder(long))


def test_transform_survives_pickling_for_dataloader_workers(model):
    import pickle

    transform = model.transform("text")
    torch.testing.assert_close(pickle.loads(pickle.dumps(transform))("a dog"), transform("a dog"))


def test_backward_reaches_every_parameter(model):
    torch.manual_seed(0)
    encoder = il.create_encoder("text/tiny").train()
    transform = model.transform("text")
    batch = torch.stack([transform(t) for t in ("a dog", "a drum", "the kettle")])
    embeddings = encoder(batch)
    (-(embeddings @ embeddings.T).logsumexp(dim=-1).mean()).backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None, name


@pytest.mark.parametrize("raw, message", [
    (torch.tensor([SOT, 50000, EOT]), "token ids must lie"),
    (torch.tensor([-1, EOT]), "token ids must lie"),
    (torch.zeros(40, dtype=torch.long), "context length"),
    (torch.tensor([0.5, 1.5]), "integers"),
    (torch.zeros(2, 3, dtype=torch.long), "1-d"),
    (3.14, "expected a string"),
])
def test_bad_token_input_raises(model, raw, message):
    with pytest.raises(InputError) as caught:
        model.transform("text")(raw)
    assert message in str(caught.value) and caught.value.modality == "text"


def test_bad_text_files_name_file_and_modality(model, tmp_path):
    cases = {"empty.txt": b"", "latin1.txt": "caf\u00e9".encode("latin-1"), "caption.md": b"a dog"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ImageBindLiteError) as caught:
            model.transform("text")(tmp_path / name)
        assert name in str(caught.value) and "text" in str(caught.value)
    with pytest.raises(UnknownNameError, match="imagebind_huge"):
        il.create_encoder("text/gigantic")


@pytest.mark.slow
def test_imagebind_huge_shapes():
    encoder = il.create_encoder("text/imagebind_huge").eval()
    assert encoder.stem.token_embedding.weight.shape == (49408, 1024)
    assert encoder.trunk.causal and len(encoder.trunk.blocks) == 24
    with torch.no_grad():
        embedding = il.MultiModalModel({"text": encoder}).embed({"text": ["a dog"]})["text"]
    assert embedding.shape == (1, 1024)
    torch.testing.assert_close(embedding.norm(dim=-1), torch.full((1,), 1 / 0.07))


# ---- Hugging Face trunk from a local directory ---------------------------------------------
@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """A tiny BERT and its WordPiece tokenizer, made and saved locally (no network)."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_hf_trunk_embeds_with_its_own_tokenizer(hf_dir, tmp_path, pool):
    encoder = il.create_encoder("text/hf", trunk={"hf_path": str(hf_dir), "hf_pool": pool})
    # the tokenizer is read from the encoder's own copy of the directory's files, not the directory
    files = Path(encoder.data_config["files"])
    assert encoder.data_config["tokenizer"] == "hf" and "hf_path" not in encoder.data_config
    assert files != hf_dir and (files / "vocab.txt").read_bytes() == (hf_dir / "vocab.txt").read_bytes()
    assert not list(files.glob("*.safetensors"))  # weights live in the encoder, not among its files
    model = il.MultiModalModel({"text": encoder})
    ids = model.transform("text")("a red dog")
    assert ids[:5].tolist() == [2, 5, 9, 11, 3] and ids.shape == (64,)  # [CLS] a red dog [SEP]
    texts = ["a red dog", "the blue kettle of a drum", ""]
    together = model.embed({"text": texts})["text"]
    alone = model.embed({"text": texts[:1]})["text"]
    assert together.shape == (3, 128)
    torch.testing.assert_close(together.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(alone[0], together[0])  # pads are masked out
    encoder.train()
    encoder(torch.stack([model.transform("text")(t) for t in texts])).sum().backward()
    assert all(p.grad is not None for p in encoder.trunk.model.embeddings.parameters())
    model.save(tmp_path / "saved")
    torch.testing.assert_close(il.load_model(tmp_path / "saved").embed({"text": texts})["text"],
                               model.eval().embed({"text": texts})["text"])


def test_hf_context_is_capped_by_the_position_table(hf_dir):
    encoder = il.create_encoder("text/hf", trunk={"hf_path": str(hf_dir)}, data={"context_length": 500})
    assert encoder.data_config["context_length"] == 64
    assert il.MultiModalModel({"text": encoder}).embed({"text": ["dog " * 300]})["text"].shape == (1, 128)


def test_hf_trunk_needs_a_local_directory(tmp_path):
    with pytest.raises(InputError, match="hf_path"):
        il.create_encoder("text/hf")
    with pytest.raises(InputError, match="text/hf"):
        il.create_encoder("text/tiny", trunk={"hf_path": str(tmp_path)})
    with pytest.raises(CheckpointError, match="no_model_here"):
        il.create_encoder("text/hf", trunk={"hf_path": str(tmp_path / "no_model_here")})
