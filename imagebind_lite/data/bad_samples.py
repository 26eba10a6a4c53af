"""Unreadable samples: one policy for training, pivot caching and batch inference.

A sample that cannot be read (a corrupt png, a truncated wav, a missing file) becomes a
``BadSample`` naming the sample, the file and the modality, instead of an exception inside a
DataLoader worker, where it would come back re-wrapped with the file name buried in a
traceback. Collates drop bad samples and list them under ``"skipped"``; the policy is applied
in the main process, on each batch:

- ``"skip"``: go on with the rest and report every skipped file;
- ``"fail"``: raise one clean ``InputError`` naming the file and the modality.

Either way nothing already written (checkpoints, shards, caches) is lost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Sequence, Tuple

from imagebind_lite.errors import InputError

BAD_SAMPLE_POLICIES = ("skip", "fail")


def check_policy(policy: str) -> str:
    if policy not in BAD_SAMPLE_POLICIES:
        raise InputError(f"on_bad_sample must be one of {BAD_SAMPLE_POLICIES}, got {policy!r}")
    return policy


@dataclass
class BadSample:
    """A sample that could not be read; the collate drops it and reports it."""

    id: str
    modality: str
    source: str
    message: str

    def error(self) -> InputError:
        return InputError(f"unreadable sample {self.id!r} (on_bad_sample='fail'): {self.message}",
                          modality=self.modality, source=self.source)


def _bare_message(exc: InputError) -> str:
    """The message without the "[modality ..., source ...]" prefix (BadSample keeps those)."""
    text = str(exc)
    return text.split("] ", 1)[1] if text.startswith("[") and "] " in text else text


def read_or_bad(read: Callable[[], Any], sample_id: str, modality: str, source: str) -> Any:
    """``read()``, or a ``BadSample`` when it raises ``InputError`` (bad data, not a bug)."""
    try:
        return read()
    except InputError as exc:
        return BadSample(sample_id, modality, source, _bare_message(exc))


def split_bad(items: Sequence[Any], value: Callable[[Any], Any] = lambda item: item) -> Tuple[List[Any], List[BadSample]]:
    """``(good items, bad samples)``; ``value(item)`` is the part that may be a ``BadSample``."""
    good = [item for item in items if not isinstance(value(item), BadSample)]
    bad = [value(item) for item in items if isinstance(value(item), BadSample)]
    return good, bad


def fail_on_bad(bad: Sequence[BadSample], policy: str) -> None:
    """Apply the policy to the bad samples of one batch: raise the first under "fail"."""
    if bad and policy == "fail":
        raise bad[0].error()
