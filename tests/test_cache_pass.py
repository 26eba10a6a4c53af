"""Cache-filling passes in worker processes: every item kept, in order, without holding one
shared-memory file descriptor per kept tensor."""
import resource
from collections import namedtuple

import pytest
import torch
from torch.utils.data import Dataset

from imagebind_lite.training.cache_pass import from_bytes, load_all, to_bytes

Pair = namedtuple("Pair", "tensor label")


class Items(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return Pair(torch.full((4,), float(index)), {"index": index, "extra": [torch.tensor([index])]})


@pytest.fixture
def few_file_descriptors():
    """A descriptor limit well below the number of tensors the pass keeps."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
    try:
        yield 256
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_workers_keep_every_item_in_order_within_the_descriptor_limit(few_file_descriptors):
    n = 3 * few_file_descriptors  # two tensors per item: six times the limit, were each kept shared
    items = load_all(Items(n), num_workers=2, batch_size=32)
    assert [int(item.tensor[0]) for item in items] == list(range(n))
    assert all(isinstance(item, Pair) and not item.tensor.is_shared() for item in items)
    assert all(int(item.label["extra"][0]) == i and not item.label["extra"][0].is_shared()
               for i, item in enumerate(items))


def test_in_process_pass_returns_the_items_themselves():
    items = load_all(Items(5), num_workers=0)
    assert [int(item.tensor[0]) for item in items] == [0, 1, 2, 3, 4]


def test_tensors_travel_as_bytes_and_come_back_equal_in_every_dtype_and_shape():
    tensors = [torch.randn(2, 3), torch.randn(3, 4)[:, 1], torch.tensor(7), torch.empty(0, 5),
               torch.randn(4).bfloat16(), torch.tensor([True, False]), torch.arange(6, dtype=torch.int64).view(2, 3)]
    item = Pair(tensors[0], {"rest": tensors[1:], "name": "clip.wav", "n": 3})
    back = from_bytes(to_bytes(item))
    assert isinstance(back, Pair) and back.label["name"] == "clip.wav" and back.label["n"] == 3
    for original, copy in zip(tensors, [back.tensor, *back.label["rest"]]):
        assert copy.dtype == original.dtype and copy.shape == original.shape
        assert torch.equal(copy, original) and not copy.is_shared()
