"""Shared building blocks: transformer trunk, patch/token stems, heads and the L2 post stage."""
from imagebind_lite.layers.heads import Head, Normalize
from imagebind_lite.layers.stems import PatchStem, TokenStem
from imagebind_lite.layers.transformer import Attention, Block, Transformer

__all__ = ["Attention", "Block", "Head", "Normalize", "PatchStem", "TokenStem", "Transformer"]
