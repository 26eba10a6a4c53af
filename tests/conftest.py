"""Shared test settings: one thread (CI has 2 cores and pytest runs many small models)."""
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _private_cache_dir() -> None:
    """Verified-file hashes go to a per-run directory, never the user's cache."""
    import tempfile

    from imagebind_lite.retrieval.integrity import CACHE_ENV

    os.environ.setdefault(CACHE_ENV, tempfile.mkdtemp(prefix="imagebind-lite-test-cache-"))


_private_cache_dir()
