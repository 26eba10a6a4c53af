"""Reading what other libraries log while they build a model.

Some libraries report facts we must act on only in their logs (timm: "Unexpected keys ... found
while loading pretrained weights"), and some warn about things that are expected when we call
them (open_clip: "initialized randomly" when we rebuild a skeleton to load a saved model into).
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator, List


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def collected_logs(logger_name: str) -> Iterator[List[str]]:
    """The messages ``logger_name`` logs inside the block (at any level), in order."""
    logger = logging.getLogger(logger_name)
    handler, level = _Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@contextmanager
def silenced_root_records_from(package_dir: str) -> Iterator[None]:
    """Drop records a package logs straight to the root logger (``logging.warning(...)``) inside the block."""
    prefix = os.path.join(os.path.abspath(package_dir), "")

    def keep(record: logging.LogRecord) -> bool:
        return not os.path.abspath(record.pathname).startswith(prefix)

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)
