"""SIGINT/SIGTERM during training: finish the current step, save a checkpoint, stop.

:class:`StopSignals` installs the handlers for the length of a ``with`` block (main thread
only) and restores the previous ones afterwards. The first signal sets :attr:`received`; the
training loop saves ``last.pt`` after the step and raises :class:`TrainingInterrupted`. A second
signal raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["StopSignals", "TrainingInterrupted"]


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by ``fit`` after SIGINT/SIGTERM once the checkpoint is saved."""

    def __init__(self, signum: int, checkpoint: Path | None) -> None:
        super().__init__(f"training interrupted by signal {signum}; checkpoint: {checkpoint}")
        self.signum = signum
        self.checkpoint = checkpoint


class StopSignals:
    """Catch SIGINT/SIGTERM for a block (see the module docstring)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.received is not None:  # second signal: stop at once
            raise KeyboardInterrupt
        self.received = signum
        logger.warning("signal %d received: saving a checkpoint after this step", signum)

    def __enter__(self) -> StopSignals:
        self.received = None
        if self.enabled and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, old in self._previous.items():
            signal.signal(signum, old)
        self._previous = {}
