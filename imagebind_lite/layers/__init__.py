"""Shared building blocks: the stem base class, patch/token stems, transformer trunk, a small
convolutional trunk, heads and the L2 post stage."""
from imagebind_lite.layers.cnn import ConvNet
from imagebind_lite.layers.heads import Head, IdentityHead, Normalize
from imagebind_lite.layers.stems import PassThroughStem, PatchStem, Stem, TokenStem
from imagebind_lite.layers.transformer import Attention, Block, Transformer

__all__ = ["Attention", "Block", "ConvNet", "Head", "IdentityHead", "Normalize", "PassThroughStem", "PatchStem", "Stem", "TokenStem", "Transformer"]
