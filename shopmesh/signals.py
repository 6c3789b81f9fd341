"""Waiting for Ctrl-C or a termination request while a service runs in the background."""

from __future__ import annotations

import signal
import threading
from types import FrameType

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def wait_for_shutdown(announcement: str = "") -> str:
    """Block until SIGINT or SIGTERM arrives and return its name.

    The handlers are installed here, after Ray has started, because Ray's driver replaces the default SIGINT
    handler; ``announcement`` is printed once they are in place, so whoever reads it may signal at once. The
    previous handlers are restored before returning.
    """
    stop = threading.Event()
    received: list[str] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in SHUTDOWN_SIGNALS}
    if announcement:
        print(announcement, flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return received[0]
