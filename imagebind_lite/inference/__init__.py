"""Batch inference at scale: embed files through Lightning's predict loop into shards."""
from imagebind_lite.inference.predict import EmbedModule, ShardWriter, embed_to_shards

__all__ = ["EmbedModule", "ShardWriter", "embed_to_shards"]
