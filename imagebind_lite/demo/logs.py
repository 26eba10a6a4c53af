"""Keep the demo's console to one line per stage plus progress bars."""
from __future__ import annotations

import logging
import warnings


def quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Lightning's hints about workers and logging intervals do not apply to this small CPU run.
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*log_every_n_steps.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
