"""`selfie3d serve`: options, command-line flags and start-up of the web service.

Kept apart from ``realtime.web.server`` so the command line can list the flags without FastAPI
installed; ``run_serve`` imports the server (and fails with the extra to install) only when
asked to serve. ``ServeOptions`` flows into ``realtime.web.server.create_app``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from realtime.errors import Selfie3DError

DEFAULT_MAX_UPLOAD_MB = 20.0
"""A 50-megapixel phone JPEG is ~15 MB; anything larger is not a photo we need."""
DEFAULT_MAX_PIXELS = 50_000_000
"""Decoded pixels allowed (header checked before decoding): ~150 MB of BGR per job at most."""


@dataclass(frozen=True)
class ServeOptions:
    """How the web service runs.

    host, port: where it listens (127.0.0.1: this machine only).
    workers: busts made at once (None: one per core, or the Ray cluster's CPUs).
    queue: uploads waiting for a worker before new ones get 503 (None: 4 per worker).
    ray: Ray address ("auto", "local" for a runtime started here, "ray://head:10001"); None: local processes.
    max_upload_mb: request size limit, MB (2**20 bytes), enforced while the upload arrives.
    max_pixels: largest image accepted, pixels (width x height), read from the header.
    keep_minutes: results are deleted this long after they were made, minutes.
    debug: tracebacks in internal-error messages.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int | None = None
    queue: int | None = None
    ray: str | None = None
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    keep_minutes: float = 60.0
    debug: bool = False

    def __post_init__(self):
        if self.workers is not None and self.workers < 1:
            raise Selfie3DError(f"--workers {self.workers}: need at least 1")
        if self.queue is not None and self.queue < 0:
            raise Selfie3DError(f"--queue {self.queue}: cannot be negative")
        if not self.max_upload_mb > 0 or not self.keep_minutes > 0:
            raise Selfie3DError("--max-upload-mb and --keep-minutes must be positive")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: need a whole number of at least 1")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``selfie3d serve``; they map one to one onto ``ServeOptions``."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every network)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    parser.add_argument("--workers", type=_positive_int, metavar="N",
                        help="busts made at once (default: one per core; with --ray: the cluster's CPUs)")
    parser.add_argument("--queue", type=int, metavar="N",
                        help="uploads that may wait for a worker; past that the answer is 503 with "
                             "Retry-After (default: 4 per worker)")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="make busts on Ray: 'auto' (the cluster this machine is in), 'local' (start "
                             "Ray here) or ray://HEAD:10001 (default: local worker processes; needs selfie3d[ray])")
    parser.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB, metavar="MB",
                        help=f"largest upload, megabytes (default: {DEFAULT_MAX_UPLOAD_MB:g})")
    parser.add_argument("--keep-minutes", type=float, default=60.0, metavar="MIN",
                        help="results are deleted this many minutes after they were made (default: 60)")


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    return ServeOptions(host=args.host, port=args.port, workers=args.workers, queue=args.queue, ray=args.ray,
                        max_upload_mb=args.max_upload_mb, keep_minutes=args.keep_minutes,
                        debug=bool(getattr(args, "debug", False)))


def run_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl-C); returns the exit status."""
    options = options_from_args(args)
    try:
        import uvicorn

        from realtime.web.server import create_app
    except ImportError as error:
        raise Selfie3DError(f"selfie3d serve needs the web extra ({error.name} is missing): "
                            "pip install 'selfie3d[web]'") from None
    shown = f"[{options.host}]" if ":" in options.host else options.host
    print(f"selfie3d: serving on http://{shown}:{options.port}/ (API docs at /docs); Ctrl-C stops", flush=True)
    if options.host not in ("127.0.0.1", "localhost", "::1"):
        print("selfie3d: warning: listening beyond this machine; anyone who can reach it can upload photos",
              flush=True)
    uvicorn.run(create_app(options), host=options.host, port=options.port,
                log_level="info" if options.debug else "warning")
    return 0
