"""The ``selfie3d`` command: one entry point whose flags map onto the stages' options.

Errors caused by input or environment (``Selfie3DError``) print one line and exit non-zero;
``--debug`` shows the traceback. Subcommands: demo, bench, doctor (and more as stages land).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from realtime import __version__
from realtime.errors import Selfie3DError

log = logging.getLogger("selfie3d")


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1280x720, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return width, height


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")


def _add_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--video", metavar="FILE",
                        help="video file, image file or folder of images (default: the built-in demo clip)")
    source.add_argument("--camera", metavar="N", type=int, help="webcam index (0 is the first camera)")
    parser.add_argument("--size", type=_size, metavar="WxH", help="requested camera frame size in pixels (camera only)")


def _add_pipeline(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--providers", metavar="LIST",
                        help="ONNX Runtime execution providers in order, comma-separated: tensorrt,cuda,cpu "
                             "(default: the fastest available, TensorRT -> CUDA -> CPU)")
    parser.add_argument("--max-faces", type=_positive_int, default=1, metavar="N",
                        help="how many faces to track; the largest first (default: 1)")
    parser.add_argument("--no-iris", action="store_true",
                        help="skip the iris network (no metric scale; default: run it)")
    parser.add_argument("--camera-profile", metavar="NAME|FILE",
                        help="camera calibration profile (from 'selfie3d calibrate'); default: a 60 degree "
                             "horizontal field of view is assumed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfie3d", description="Live 3D face meshes from a webcam, a video or a photo.")
    parser.add_argument("--version", action="version", version=f"selfie3d {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the whole pipeline headless and write a video, report and preview")
    _add_common(demo)
    _add_source(demo)
    _add_pipeline(demo)
    demo.add_argument("--out", default="out/demo", metavar="DIR", help="output folder (default: out/demo)")
    demo.add_argument("--frames", type=_positive_int, metavar="N", help="stop after N frames (default: all)")

    bench = commands.add_parser("bench", help="per-stage latency against MediaPipe's own FaceMesh")
    _add_common(bench)
    _add_source(bench)
    _add_pipeline(bench)
    bench.add_argument("--frames", type=_positive_int, default=300, metavar="N",
                       help="frames to time after warm-up (default: 300)")
    bench.add_argument("--no-baseline", action="store_true", help="skip the MediaPipe baseline")
    bench.add_argument("--json", action="store_true", help="print the report as JSON")

    doctor = commands.add_parser("doctor", help="what this machine offers: providers, models, checksums")
    _add_common(doctor)
    return parser


def capture_options(args):
    from realtime.capture import CaptureOptions

    return CaptureOptions(camera=args.camera, path=args.video, size=getattr(args, "size", None))


def pipeline_options(args):
    from realtime.pipeline import PipelineOptions
    from realtime.reconstruction import ReconstructionOptions
    from realtime.tracking import TrackerOptions

    providers = tuple(p.strip() for p in args.providers.split(",") if p.strip()) if args.providers else None
    return PipelineOptions(
        tracking=TrackerOptions(max_faces=args.max_faces),
        reconstruction=ReconstructionOptions(providers=providers, iris=not args.no_iris),
        camera_profile=args.camera_profile,
    )


def cmd_demo(args) -> int:
    from realtime.demo import DemoOptions, run_demo

    report = run_demo(DemoOptions(out_dir=args.out, capture=capture_options(args),
                                  pipeline=pipeline_options(args), max_frames=args.frames))
    print(f"demo: {report['frames']} frames from {report['source']}, face tracked in "
          f"{report['tracked_fraction']:.1%}, provider {report['provider']}")
    for name, path in report["outputs"].items():
        print(f"  {name}: {path}")
    print(f"  report: {args.out}/report.json")
    return 0


def cmd_bench(args) -> int:
    from realtime.bench import BenchOptions, format_report, run_bench

    report = run_bench(BenchOptions(capture=capture_options(args), frames=args.frames,
                                    baseline=not args.no_baseline, pipeline=pipeline_options(args)))
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def cmd_doctor(args) -> int:
    from realtime.inference import available_providers, choose_providers, file_sha256, load_manifest
    from realtime.resources import models_dir

    choice = choose_providers(available_providers())
    print(f"selfie3d {__version__}, python {sys.version.split()[0]}")
    print(f"execution providers available: {', '.join(available_providers())}")
    print(f"chosen: {choice.primary} ({choice.reason})")
    directory = models_dir()
    manifest = load_manifest(directory)
    ok = True
    for name, entry in manifest["models"].items():
        path = directory / entry["file"]
        actual = file_sha256(path) if path.exists() else "missing"
        good = actual == entry["sha256"]
        ok &= good
        print(f"model {name}: {'ok' if good else 'CHECKSUM MISMATCH' if path.exists() else 'MISSING'} ({path})")
    return 0 if ok else 3


COMMANDS = {"demo": cmd_demo, "bench": cmd_bench, "doctor": cmd_doctor}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="selfie3d: %(levelname)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except Selfie3DError as error:
        if debug:
            raise
        print(f"selfie3d: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("selfie3d: interrupted", file=sys.stderr)
        return 130
