"""Data: manifests, datasets, collation and the synthetic world generator."""
