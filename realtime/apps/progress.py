"""One self-updating line of progress on a terminal: the current stage and the seconds so far.

It stays silent for the first ``QUIET_S`` seconds (a quick command prints nothing extra), then
redraws ``"building the bust... 1.4 s"`` every ``TICK_S`` on a background thread, and erases
itself when closed, so what the command prints next starts on a clean line.
"""

from __future__ import annotations

import threading
import time

QUIET_S = 1.0
"""No progress line before this many seconds: a fast command stays as it was."""
TICK_S = 0.2
"""How often the line is redrawn."""


class StageLine:
    """``stage(name)`` as work moves on; ``close()`` when done (idempotent)."""

    def __init__(self, stream, quiet_s: float | None = None):
        self.stream = stream
        self.quiet_s = QUIET_S if quiet_s is None else quiet_s
        self.start = time.perf_counter()
        self.name = "starting"
        self.width = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="selfie3d-progress", daemon=True)
        self._thread.start()

    def stage(self, name: str) -> None:
        with self._lock:
            self.name = name

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            elapsed = time.perf_counter() - self.start
            if elapsed < self.quiet_s:
                continue
            with self._lock:
                text = f"{self.name}... {elapsed:.1f} s"
                padding = " " * max(self.width - len(text), 0)
                self.width = len(text)
                self.stream.write(f"\r{text}{padding}")
                self.stream.flush()

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        with self._lock:
            if self.width:
                self.stream.write("\r" + " " * self.width + "\r")
                self.stream.flush()
