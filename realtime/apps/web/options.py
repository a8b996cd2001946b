"""The web service's options (``ServeOptions``), its limits and the models it checks at start.

Imported by both ``realtime.apps.web.serve`` (flags, start-up) and ``realtime.apps.web.server``
(the app), so neither imports the other for them. No FastAPI needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from realtime.errors import InputError, Selfie3DError

DEFAULT_MAX_UPLOAD_MB = 20.0
"""A 50-megapixel phone JPEG is ~15 MB; anything larger is not a photo we need."""
DEFAULT_MAX_PIXELS = 50_000_000
"""Decoded pixels allowed (header checked before decoding): ~150 MB of BGR per job at most."""
DEFAULT_BODY_TIMEOUT_S = 60.0
"""Time an upload's whole body may take to arrive, seconds: a 20 MB photo at 3 Mbit/s, a phone
photo (3-5 MB) at 1 Mbit/s. A connection that stalls (or trickles) longer is cut with 408."""
DEFAULT_MAX_RESULTS_MB = 1024.0
"""Disk all stored results may take together, MB: about 110 busts of 8-9.5 MB (four formats and
the OBJ's texture); past it the oldest are deleted first."""
SERVE_MODELS = ("face_detection_short_range", "face_landmark", "iris_landmark")
"""The networks a web job loads; ``serve`` checks their SHA-256 before it starts."""
WEB_EXTRA_HINT = "pip install 'selfie3d[web]' (from a checkout: pip install '.[web]')"
ANSWER_AFTER = ("stl", "all")
"""When an upload is answered: once its STL is written (the other formats follow), or once all are."""
PORT_RANGE = (1, 65535)
"""TCP ports one can listen on (0, "any free port", is not offered: the URL printed at start
would have to be looked up after binding, and a user wants a port they can type)."""


@dataclass(frozen=True)
class ServeOptions:
    """How the web service runs.

    host, port: where it listens (127.0.0.1: this machine only).
    workers: busts made at once (None: one per core, or the Ray cluster's CPUs).
    queue: uploads waiting for a worker before new ones get 503 (None: 4 per worker).
    ray: Ray address ("auto", "local" for a runtime started here, "ray://head:10001"); None: local processes.
    max_upload_mb: request size limit, MB (2**20 bytes), enforced while the upload arrives.
    max_pixels: largest image accepted, pixels (width x height), read from the header.
    body_timeout_s: an upload's body must arrive whole within this many seconds, or it is cut (408).
    keep_minutes: results are deleted this long after they were made, minutes.
    max_results_mb: all stored results together stay under this many MB (oldest deleted first).
    answer_after: "stl": an upload is answered once its STL is written, its worker then writes the
        other formats (a download of one waits for it); "all": answered once every format is written.
    debug: tracebacks in internal-error messages.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int | None = None
    queue: int | None = None
    ray: str | None = None
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    keep_minutes: float = 60.0
    max_results_mb: float = DEFAULT_MAX_RESULTS_MB
    answer_after: str = "stl"
    debug: bool = False

    def __post_init__(self):
        if self.workers is not None and self.workers < 1:
            raise Selfie3DError(f"--workers {self.workers}: need at least 1")
        if self.queue is not None and self.queue < 0:
            raise Selfie3DError(f"--queue {self.queue}: cannot be negative")
        for flag, value in (("--max-upload-mb", self.max_upload_mb), ("--keep-minutes", self.keep_minutes),
                            ("--body-timeout-s", self.body_timeout_s), ("--max-results-mb", self.max_results_mb)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(f"{flag} {value}: must be a positive number")
        if self.answer_after not in ANSWER_AFTER:
            raise InputError(f"--answer-after {self.answer_after}: choose one of {', '.join(ANSWER_AFTER)}")
        if not PORT_RANGE[0] <= self.port <= PORT_RANGE[1]:
            raise InputError(f"--port {self.port}: a TCP port is {PORT_RANGE[0]}-{PORT_RANGE[1]}")


def check_models() -> None:
    """Check the SHA-256 of every network a web job loads, as ``doctor``, ``photo`` and ``demo``
    do: a server with a damaged or replaced model must not start (``ModelError``, exit 3, one
    line naming the file) and then fail every upload."""
    from realtime.stages.inference import model_spec, verified_model_bytes

    for name in SERVE_MODELS:
        verified_model_bytes(model_spec(name))
