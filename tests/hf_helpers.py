"""A tiny BERT with its WordPiece tokenizer, made and saved locally (tests never reach a hub)."""
from __future__ import annotations

from pathlib import Path

import torch

HF_WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "the", "red", "blue", "dog", "kettle", "drum"]


def make_tiny_bert(directory: Path) -> Path:
    """Write a 1-layer, 32-wide BERT and its tokenizer to ``directory`` (save_pretrained)."""
    from transformers import BertConfig, BertModel, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(HF_WORDS) + "\n")
    BertTokenizer(str(directory / "vocab.txt")).save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(HF_WORDS), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(directory)
    return directory
