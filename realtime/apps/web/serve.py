"""`selfie3d serve`: options, command-line flags and start-up of the web service.

Kept apart from ``realtime.apps.web.server`` so the command line can list the flags without FastAPI
installed; ``run_serve`` imports the server (and fails with the extra to install) only when
asked to serve. ``ServeOptions`` (``realtime.apps.web.options``, which the server imports too:
this module imports the server, never the other way round) flows into
``realtime.apps.web.server.create_app``.
"""

from __future__ import annotations

import argparse
import errno
import logging
import re
import socket

from realtime.apps.web.options import (ANSWER_AFTER, DEFAULT_BODY_TIMEOUT_S, DEFAULT_MAX_RESULTS_MB, DEFAULT_MAX_UPLOAD_MB,  # noqa: F401
                                       PORT_RANGE, WEB_EXTRA_HINT, ServeOptions, check_models)
from realtime.errors import InputError, Selfie3DError

def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: need a whole number of at least 1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not PORT_RANGE[0] <= value <= PORT_RANGE[1]:
        raise argparse.ArgumentTypeError(f"{text}: a TCP port is {PORT_RANGE[0]}-{PORT_RANGE[1]}")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``selfie3d serve``; they map one to one onto ``ServeOptions``."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every network)")
    parser.add_argument("--port", type=_port, default=8000, metavar="N",
                        help=f"TCP port, {PORT_RANGE[0]}-{PORT_RANGE[1]} (default: 8000)")
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
    parser.add_argument("--body-timeout-s", type=float, default=DEFAULT_BODY_TIMEOUT_S, metavar="S",
                        help="an upload must arrive whole within this many seconds, or the connection is cut "
                             f"with 408 and holds nothing (default: {DEFAULT_BODY_TIMEOUT_S:g})")
    parser.add_argument("--keep-minutes", type=float, default=60.0, metavar="MIN",
                        help="results are deleted this many minutes after they were made (default: 60)")
    parser.add_argument("--max-results-mb", type=float, default=DEFAULT_MAX_RESULTS_MB, metavar="MB",
                        help="disk all stored results may take together, megabytes; past it the oldest are "
                             f"deleted first (default: {DEFAULT_MAX_RESULTS_MB:g}, about 110 busts)")
    parser.add_argument("--answer-after", choices=ANSWER_AFTER, default="stl",
                        help="answer an upload once its STL is written, the same worker then writing the 3MF, "
                             "GLB and OBJ (a download of one waits for it): stl; or once every format is "
                             "written: all (default: stl)")


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    return ServeOptions(host=args.host, port=args.port, workers=args.workers, queue=args.queue, ray=args.ray,
                        max_upload_mb=args.max_upload_mb, keep_minutes=args.keep_minutes,
                        body_timeout_s=args.body_timeout_s, max_results_mb=args.max_results_mb,
                        answer_after=args.answer_after,
                        debug=bool(getattr(args, "debug", False)))


def listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound sockets for every address ``host`` names (``localhost``: 127.0.0.1 and ::1), as
    asyncio's ``create_server`` would make them; uvicorn serves on these. Binding here, before
    "serving on" is printed, turns a port in use into one line, and leaves no window in
    which another program could take the port between a check and uvicorn's own bind.
    Raises ``Selfie3DError`` with one line."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise InputError(f"--host {host}: not an address or a name this machine can resolve "
                         f"({error.strerror})") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            # As asyncio: a port left in TIME_WAIT by a server just stopped can be reused at once.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as error:
        for sock in sockets:
            sock.close()
        reason = error.strerror or str(error)
        if error.errno == errno.EADDRINUSE:
            raise Selfie3DError(f"port {port} on {host} is in use ({reason}): another program (or another "
                                "selfie3d serve) listens there; stop it or choose another --port") from None
        if error.errno in (errno.EACCES, errno.EPERM):
            raise Selfie3DError(f"port {port} on {host} is not permitted ({reason}): ports below 1024 need "
                                "administrator rights; choose another --port") from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise InputError(f"--host {host} is not an address of this machine ({reason}); use 127.0.0.1, "
                             "0.0.0.0 (every network) or one of this machine's own addresses") from None
        raise Selfie3DError(f"cannot listen on {where}: {reason}") from None
    return sockets


# The last line of a traceback that uvicorn logs when the app's start-up fails: "module.Type: text".
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*): (?P<message>.+)$")


class _StartupErrors(logging.Filter):
    """Holds back uvicorn's error records (and their tracebacks) until the server has started,
    keeping one line of each: the reason, given as one ``Selfie3DError`` if it never starts.
    Once started, records pass: a failing request is a bug and keeps its traceback."""

    def __init__(self, server):
        super().__init__()
        self.server = server
        self.lines: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if self.server.started or record.levelno < logging.ERROR:
            return True
        text = record.getMessage().strip().splitlines() or [""]
        last = text[-1].strip()
        match = _EXCEPTION_LINE.match(last)
        if match and match["type"].startswith("realtime."):  # ours: its message is the line
            last = match["message"]
        self.lines.append(last)
        return False


def _announce(options: ServeOptions) -> None:
    shown = f"[{options.host}]" if ":" in options.host else options.host
    print(f"selfie3d: serving on http://{shown}:{options.port}/ (API docs at /docs); Ctrl-C stops", flush=True)
    if options.host not in ("127.0.0.1", "localhost", "::1"):
        print("selfie3d: warning: listening beyond this machine; anyone who can reach it can upload photos",
              flush=True)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl-C); returns the exit status. "serving on" is printed only
    once the server has started; anything that stops it starting is one ``Selfie3DError``."""
    options = options_from_args(args)
    try:
        import uvicorn

        from realtime.apps.web.server import Server as StoppingServer
        from realtime.apps.web.server import create_app
    except ImportError as error:
        raise Selfie3DError(f"selfie3d serve needs the web extra ({error.name} is missing): {WEB_EXTRA_HINT}") from None

    class Server(StoppingServer):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                _announce(options)

    check_models()
    sockets = listen_sockets(options.host, options.port)
    try:
        server = Server(uvicorn.Config(create_app(options), log_level="info" if options.debug else "warning"))
        startup = _StartupErrors(server)
        if not options.debug:
            logging.getLogger("uvicorn.error").addFilter(startup)
        try:
            server.run(sockets=sockets)
        except KeyboardInterrupt:  # Ctrl-C is how it stops
            return 0
        except SystemExit:  # uvicorn exits when the app's start-up fails; say why below
            if server.started:
                raise
        finally:
            logging.getLogger("uvicorn.error").removeFilter(startup)
    finally:
        for sock in sockets:
            sock.close()
    if not server.started:
        # The first line is the cause; uvicorn's "Application startup failed. Exiting." follows it.
        reason = next((line for line in startup.lines if line), "see the messages above (--debug shows more)")
        raise Selfie3DError(f"the web server did not start: {reason}")
    return 0
