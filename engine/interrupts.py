"""Ctrl-C at safe points: a long command (``sanny build``) checks between batches instead of
taking a ``KeyboardInterrupt`` in the middle of a WAL append or a graph insert.

The first SIGINT only sets a flag; ``check()`` raises ``KeyboardInterrupt`` at the caller's next
safe point. A second SIGINT restores Python's default handler behaviour (raise at once), so a
phase that runs long between checks can still be stopped."""
from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def deferred_sigint():
    """Yield ``check()``; inside the block SIGINT is deferred to the next ``check()``."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None  # signal handlers can only be set from the main thread
        return
    hit = threading.Event()

    def on_sigint(signum, frame):
        if hit.is_set():
            raise KeyboardInterrupt
        hit.set()

    def check() -> None:
        if hit.is_set():
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)
