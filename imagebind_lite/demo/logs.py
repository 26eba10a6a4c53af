"""Keep the demo's console to one line per stage plus progress bars."""
from __future__ import annotations

import logging
import warnings


def quiet_lightning() -> None:
    # Importing Lightning sets its own logger to INFO: import it first, or the levels set here
    # are undone and its banner lines ("GPU available: ...") reach the console at every stage.
    import lightning.pytorch  # noqa: F401

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Lightning's hints about workers and logging intervals do not apply to this small CPU run.
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*log_every_n_steps.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
