"""The ``selfie3d`` command: one entry point whose flags map onto the stages' options.

Errors caused by input or environment (``Selfie3DError``) print one line and exit non-zero;
``--debug`` shows the traceback. Subcommands: demo, bench, doctor, photo, serve, live, calibrate.

Exit codes, the same for every command:

* 0 (``EXIT_OK``): done.
* 1 (``EXIT_SOME_FAILED``): the command ran and reports a failure in its result: some photos of
  a ``photo`` batch failed while others were made (each failure has its line), the outputs
  were made but the ``--report`` could not be written, or ``bench --soak`` exceeded its limits.
  An unexpected exception (a bug, with its traceback) is 1 too.
* 2 (``EXIT_INPUT``): nothing was made because of something the user can change: a flag
  (argparse usage errors), a missing or unreadable file, an input without a face, an unknown
  ``--providers`` name, an output that cannot be written, a port in use, no display, a
  missing optional extra (``InputError`` and every other ``Selfie3DError``).
* 3 (``EXIT_MODELS``): the face networks cannot run: a model file missing or altered (``serve``
  checks before it starts), a requested execution provider this ONNX Runtime lacks
  (``ModelError``; ``doctor``'s failed checksums).
* 130 (``EXIT_INTERRUPTED``): Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from realtime import __version__
from realtime.errors import Selfie3DError
from realtime.printing.vocabulary import DEFAULT_HEIGHT_MM, DEFAULT_STYLE, EXPRESSIONS, FORMATS, STYLES

log = logging.getLogger("selfie3d")

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_INPUT = 2  # = Selfie3DError.exit_code, InputError's, and argparse's for usage errors
EXIT_MODELS = 3  # = ModelError.exit_code
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

NATIVE_LOG_QUIET = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2", "OPENCV_LOG_LEVEL": "ERROR"}
"""Environment that keeps MediaPipe's absl/glog, TFLite's and OpenCV's own INFO and WARNING lines
(``Created TensorFlow Lite XNNPACK delegate``, ``landmark_projection_calculator``, ``cap_v4l``)
off stderr: they are not ours to act on. Read when those libraries load, so it is set before any
of them is imported; a value the user already set wins, and ``--debug`` leaves them all alone."""


def quiet_native_logs(argv: list[str]) -> None:
    """Set ``NATIVE_LOG_QUIET`` (without overriding the user's values) unless ``--debug`` is given."""
    if "--debug" in argv:
        return
    for name, value in NATIVE_LOG_QUIET.items():
        os.environ.setdefault(name, value)


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


def parse_providers(text: str | None) -> tuple[str, ...] | None:
    """``--providers`` as a tuple of names (None: choose automatically). A name that is no
    execution provider at all (a typo) is an ``InputError``; one ONNX Runtime knows but this
    installation lacks (``cuda`` without onnxruntime-gpu) is left for ``choose_providers`` to
    refuse as a ``ModelError``, with what is available."""
    if not text:
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        return None
    import onnxruntime as ort

    from realtime.errors import InputError
    from realtime.stages.inference import PROVIDER_ALIASES

    known = set(ort.get_all_providers())
    unknown = [name for name in names if name.lower() not in PROVIDER_ALIASES and name not in known]
    if unknown:
        raise InputError(f"--providers: unknown execution provider {', '.join(map(repr, unknown))}; use "
                         f"{', '.join(PROVIDER_ALIASES)} or an ONNX Runtime name such as CUDAExecutionProvider")
    return names


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")


def _add_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--video", metavar="FILE",
                        help="video file, image file or folder of images (default: the built-in demo clip)")
    source.add_argument("--camera", metavar="N", type=int, help="webcam index (0 is the first camera)")
    parser.add_argument("--size", type=_size, metavar="WxH", help="frame size in pixels: the camera's requested size, or the size the built-in demo clip is rendered at")
    parser.add_argument("--list-cameras", action="store_true",
                        help="list the cameras that open (indices 0-7, with their frame size) and exit")


def _add_bust_options(parser: argparse.ArgumentParser, whose: str) -> None:
    """The printable solid's flags, shared by ``photo`` and ``video`` (``whose``: "photo's")."""
    parser.add_argument("--style", choices=STYLES, default=DEFAULT_STYLE,
                        help="bust: head and hair, neck and shoulders, cut flat; head: head and hair on a plinth; "
                             "relief: head and hair on a plaque; mask: the front of the head as a shell (default: bust)")
    parser.add_argument("--format", choices=FORMATS,
                        help="output format (default: from the output's extension, else stl)")
    parser.add_argument("--height-mm", type=float, default=DEFAULT_HEIGHT_MM, metavar="MM",
                        help=f"printed height in millimetres (default: {DEFAULT_HEIGHT_MM:g})")
    parser.add_argument("--label", metavar="TEXT", help="text engraved on the plinth or plaque (not the mask)")
    parser.add_argument("--expression", choices=EXPRESSIONS, default=EXPRESSIONS[0],
                        help=f"neutral relaxes the expression; current keeps the {whose} (default: neutral)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files (default: refuse)")


def _add_pipeline(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--providers", metavar="LIST",
                        help="ONNX Runtime execution providers in order, comma-separated: tensorrt,cuda,cpu "
                             "(default: the fastest available, TensorRT -> CUDA -> CPU)")
    parser.add_argument("--max-faces", type=_positive_int, default=1, metavar="N",
                        help="how many faces to track; the largest first (default: 1)")
    parser.add_argument("--no-iris", action="store_true",
                        help="skip the iris network (no metric scale; default: run it)")
    parser.add_argument("--device-crop", action="store_true",
                        help="cut the face and eye crops on the execution provider's device (GPU) instead of "
                             "with OpenCV on the CPU; compare with 'selfie3d bench --networks' (default: off)")
    parser.add_argument("--camera-profile", metavar="NAME|FILE",
                        help="camera calibration profile (from 'selfie3d calibrate'); default: a 60 degree "
                             "horizontal field of view is assumed")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line. ``only``: the subcommand about to run; the others get their one-line help
    but not their arguments, whose modules (the live window's, calibration's, the web server's)
    would cost a command that does not use them ~ 0.15 s of imports. None: every subcommand whole."""

    def wanted(name: str) -> bool:
        return only is None or only == name

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
    demo.add_argument("--no-scan", action="store_true",
                      help="make the bust from the most frontal frame's view alone, without the head scan that a "
                           "head turn in the video gives (default: scan, as the live window does)")

    bench = commands.add_parser(
        "bench", help="per-stage latency against MediaPipe's own FaceMesh",
        description="Per-stage latency against MediaPipe's own FaceMesh on the same frames, and fusion jitter "
                    "(fused against raw, in the image and in 3D, with the depth's wobble) on the source: the "
                    "built-in clip held still, or the stillest 120 tracked frames of --video.")
    _add_common(bench)
    _add_source(bench)
    _add_pipeline(bench)
    bench.add_argument("--frames", type=_positive_int, default=300, metavar="N",
                       help="frames to time after warm-up (default: 300)")
    bench.add_argument("--no-baseline", action="store_true", help="skip the MediaPipe baseline")
    bench.add_argument("--render", action="store_true",
                       help="also time the full try-on composite at 1280x720 (headless EGL), and the live loop's "
                            "frame rate without and during a snapshot's bust export")
    bench.add_argument("--bust", action="store_true",
                       help="also time snapshot -> STL, photo -> STL and photo-batch throughput (1 worker vs all cores)")
    bench.add_argument("--networks", action="store_true",
                       help="instead: time each face network on every available execution provider (TensorRT, "
                            "CUDA, CPU) at batch 1, 2 and 4, plus crop pre-processing and, on CUDA, the "
                            "host-to-device copies (default: off)")
    bench.add_argument("--pose", action="store_true",
                       help="instead: pose accuracy on rendered heads (a textured head turned to 14 known poses "
                            "through the whole pipeline; headless EGL, about 10 s)")
    bench.add_argument("--scan", action="store_true",
                       help="instead: live head scan accuracy on a rendered head with hair turning +-45, 60 and "
                            "75 deg through the whole pipeline (the hull and the exported head against the true "
                            "surface, and the scan's cost per scanned frame; headless EGL, about 25 s)")
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    bench.add_argument("--soak", type=_positive_int, metavar="N",
                       help="instead: a soak run of N frames (after 1000 warm-up) of the demo clip through "
                            "capture, tracking, reconstruction and fusion, reporting resident-memory growth "
                            "(limit 20 MB) and exceptions; exit 1 on failure (default: off)")
    bench.add_argument("--soak-render", action="store_true",
                       help="with --soak: also render every frame headless (EGL) (default: off)")

    photo = commands.add_parser("photo", help="one or many photos to printable 3D busts (STL, 3MF, OBJ, GLB)")
    _add_common(photo)
    photo.add_argument("images", nargs="+", metavar="IMAGE", help="photos (JPEG, PNG, ...) or folders of photos")
    photo.add_argument("-o", "--out", default="out/photos", metavar="OUT",
                       help="output file for one photo (format by extension), else a folder (default: out/photos)")
    _add_bust_options(photo, "photo's")
    photo.add_argument("--all-faces", action="store_true", help="one output per face (default: the largest face only)")
    photo.add_argument("--report", metavar="FILE.json", help="write a JSON report: boxes, vertices, 68 landmarks, PD, print checks")
    photo.add_argument("--jobs", type=_positive_int, metavar="N", help="worker processes for many photos (default: one per core)")
    photo.add_argument("--overlay", metavar="FILE.png",
                       help="draw the bust's silhouette and the 68 landmarks over the photo, as the photo's camera sees "
                            "the bust (with --all-faces each face numbered as its file: 2 is _face2); a folder for many "
                            "photos (a name without an extension is one; default: none)")
    photo.add_argument("--any-face", action="store_true",
                       help="make a bust of any face the networks find, even one that does not look like a person's "
                            "(an animal, a statue) (default: refuse those with 'no human face found')")
    photo.add_argument("--no-level", dest="level", action="store_false",
                       help="stand the bust on the photo's up as it is (default: where the room's vertical lines show "
                            "the camera was held askew, by more than 4 degrees, the bust stands level with them; in a "
                            "photo of one person with no room to read, where the face and shoulders lean alike, with them)")
    photo.add_argument("--providers", metavar="LIST", help="ONNX Runtime execution providers, comma-separated (default: automatic)")
    photo.add_argument("--ray", metavar="ADDRESS",
                       help="run the jobs on Ray: 'auto' (the cluster this machine is in), 'local' (start Ray here) "
                            "or ray://HEAD:10001 (default: local processes; needs selfie3d[ray])")

    video = commands.add_parser("video", help="a video of a face (a head turn) to one printable 3D bust, its hair "
                                              "scanned from every side the video shows")
    _add_common(video)
    video.add_argument("video", metavar="VIDEO", help="the video file (MP4, MOV, WebM, ...) or a folder of frames")
    video.add_argument("-o", "--out", metavar="OUT",
                       help="output file (format by extension), else a folder for VIDEO's name (default: out/videos)")
    _add_bust_options(video, "video's")
    video.add_argument("--no-scan", action="store_true",
                       help="make the bust from the most frontal frame's view alone, without the head scan that a "
                            "head turn in the video gives (default: scan once it covers enough of the head)")
    video.add_argument("--frames", type=_positive_int, metavar="N", help="stop after N frames (default: all)")
    video.add_argument("--report", metavar="FILE.json", help="write a JSON report: frames, PD, the scan, print checks")
    _add_pipeline(video)

    serve = commands.add_parser("serve", help="web page and API: a photo, webcam picture or video in, a 3D bust out (needs selfie3d[web])")
    _add_common(serve)
    if wanted("serve"):
        from realtime.apps.web.serve import add_serve_arguments

        add_serve_arguments(serve)

    live = commands.add_parser("live", help="AR glasses try-on in a window: camera or video, keys S G M V R I Space ? H Q")
    _add_common(live)
    if wanted("live"):
        from realtime.apps.live import add_live_arguments

        add_live_arguments(live)
        _add_pipeline(live)

    calibrate = commands.add_parser("calibrate", help="calibrate a camera from chessboard views; saves a camera profile")
    _add_common(calibrate)
    if wanted("calibrate"):
        from realtime.apps.calibrate import add_calibrate_arguments

        add_calibrate_arguments(calibrate)

    doctor = commands.add_parser("doctor", help="what this machine offers: providers, models, checksums")
    _add_common(doctor)
    return parser


def capture_options(args):
    from realtime.stages.capture import CaptureOptions

    from realtime.stages.democlip import DemoClipOptions

    size = getattr(args, "size", None)
    if size and args.camera is None and args.video is None:  # the demo clip, rendered at that size
        return CaptureOptions(demo=DemoClipOptions(width=size[0], height=size[1]))
    return CaptureOptions(camera=args.camera, path=args.video, size=size)


def pipeline_options(args):
    from realtime.stages.pipeline import PipelineOptions
    from realtime.stages.reconstruction import ReconstructionOptions
    from realtime.stages.tracking import TrackerOptions

    providers = parse_providers(args.providers)
    return PipelineOptions(
        tracking=TrackerOptions(max_faces=args.max_faces),
        reconstruction=ReconstructionOptions(providers=providers, iris=not args.no_iris,
                                             device_crop=args.device_crop),
        camera_profile=args.camera_profile,
    )


def cmd_demo(args) -> int:
    from realtime.apps.demo import DemoOptions, run_demo

    report = run_demo(DemoOptions(out_dir=args.out, capture=capture_options(args),
                                  pipeline=pipeline_options(args), max_frames=args.frames, scan=not args.no_scan))
    print(f"demo: {report['frames']} frames from {report['source']}, face tracked in "
          f"{report['tracked_fraction']:.1%}, provider {report['provider']}")
    for name, path in report["outputs"].items():
        print(f"  {name}: {path}")
    print(f"  report: {args.out}/report.json")
    scan = report.get("bust", {}).get("scan")
    if scan:
        from realtime.apps.video import scan_summary_line

        print(f"  {scan_summary_line(scan)}")
    warning = report.get("fusion", {}).get("scale_warning")
    if warning:
        print(f"  warning: {warning}")
    return 0


def cmd_video(args) -> int:
    from realtime.apps.video import VideoOptions, run_video, scan_summary_line
    from realtime.printing.bust import BustOptions

    if args.label is not None:
        from realtime.printing.solids import check_label

        check_label(args.label)  # before the video is read
    bust = BustOptions(style=args.style, height_mm=args.height_mm, label=args.label, expression=args.expression,
                       format=args.format, overwrite=args.overwrite)
    options = VideoOptions(path=args.video, out=args.out, bust=bust, pipeline=pipeline_options(args),
                           scan=not args.no_scan, max_frames=args.frames, report=args.report)
    line = None
    if sys.stderr.isatty():  # a phone's minute of 4K takes a while: say where it is
        from realtime.apps.progress import StageLine

        line = StageLine(sys.stderr)
    try:
        report = run_video(options, progress=line.stage if line else None)
    finally:
        if line:
            line.close()
    pd = f"PD {report['pd_mm']:.1f} mm, " if report["pd_mm"] is not None else ""
    print(f"{args.video}: {report['output']}  ({pd}{report['frames']} frames, {report['seconds']:.1f} s)")
    if "scan" in report["bust"]:
        print(f"  {scan_summary_line(report['bust']['scan'])}")
    if args.report:
        print(f"  report: {args.report}")
    return 0


def cmd_bench(args) -> int:
    from realtime.tools.bench import BenchOptions, format_report, run_bench

    if args.networks:
        from realtime.tools.network_bench import NetworkBenchOptions, format_network_report, network_benchmark

        from realtime.stages.inference import available_providers, choose_providers

        # --providers picks which to compare; the CPU provider always runs too, as the baseline.
        requested = parse_providers(args.providers)
        compared = choose_providers(available_providers(), list(requested)).providers if requested else None
        result = network_benchmark(NetworkBenchOptions(providers=compared))
        print(json.dumps(result.report(), indent=2) if args.json else format_network_report(result))
        return 0
    if args.pose:
        from realtime.tools.pose_accuracy import PoseSweepOptions, format_pose_report, run_pose_sweep

        sweep = run_pose_sweep(PoseSweepOptions())
        print(json.dumps(sweep.report(), indent=2) if args.json else format_pose_report(sweep))
        return 0
    if args.scan:
        from realtime.tools.scan_accuracy import format_scan_report, run_scan_bench

        scans = run_scan_bench()
        print(json.dumps([{"turn_deg": turn, **result.report()} for turn, result in scans], indent=2) if args.json
              else format_scan_report(scans))
        return 0
    if args.soak:
        from realtime.tools.soak import SoakOptions, format_soak, run_soak

        soak = run_soak(SoakOptions(frames=args.soak, render=args.soak_render, pipeline=pipeline_options(args),
                                    progress=sys.stderr.isatty()))
        print(json.dumps(soak.report(), indent=2) if args.json else format_soak(soak))
        return EXIT_OK if soak.passed else EXIT_SOME_FAILED
    report = run_bench(BenchOptions(capture=capture_options(args), frames=args.frames,
                                    baseline=not args.no_baseline, pipeline=pipeline_options(args),
                                    quiet_native_logs=not args.debug))
    if args.render:
        from realtime.tools.render_bench import render_benchmark

        rendered = render_benchmark(1280, 720)
        report["render_fps"] = round(rendered.fps, 1)
        report["render_mean_ms"] = round(rendered.mean_ms, 2)
        report["render_p95_ms"] = round(rendered.p95_ms, 2)
        report["renderer"] = rendered.renderer
        from realtime.tools.bench import render_during_export_benchmark

        report.update(render_during_export_benchmark())
        from realtime.tools.bench import scan_benchmark

        report.update(scan_benchmark())
    if args.bust:
        from realtime.tools.bench import bust_benchmark

        report.update(bust_benchmark())
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def gl_renderer() -> str:
    """The OpenGL renderer a headless (EGL) context gets, or why there is none."""
    try:
        import moderngl

        ctx = moderngl.create_standalone_context(backend="egl")
        try:
            return f"{ctx.info['GL_RENDERER']} (OpenGL {ctx.version_code // 100}.{ctx.version_code % 100 // 10}, EGL headless)"
        finally:
            ctx.release()
    except Exception as error:  # no libEGL, no driver: say so, doctor must not crash
        return f"unavailable ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); install libegl1 and Mesa"


def cmd_doctor(args) -> int:
    import onnxruntime as ort

    from realtime.stages.inference import (available_providers, choose_providers, file_sha256, gpu_name,
                                    load_manifest, tensorrt_version)
    from realtime.resources import models_dir

    choice = choose_providers(available_providers())
    print(f"selfie3d {__version__}, python {sys.version.split()[0]}, onnxruntime {ort.__version__}")
    print(f"execution providers available: {', '.join(available_providers())}")
    print(f"chosen: {choice.primary} ({choice.reason})")
    print(f"GPU: {gpu_name() or 'none found (nvidia-smi)'}; TensorRT: {tensorrt_version() or 'not installed'}")
    print(f"GL renderer: {gl_renderer()}")
    from realtime.stages.capture import format_cameras, list_cameras

    print("cameras: " + format_cameras(list_cameras()).replace("\n", "; "))
    directory = models_dir()
    manifest = load_manifest(directory)
    ok = True
    for name, entry in manifest["models"].items():
        path = directory / entry["file"]
        actual = file_sha256(path) if path.exists() else "missing"
        good = actual == entry["sha256"]
        ok &= good
        state = f"ok sha256 {actual[:12]}" if good else "CHECKSUM MISMATCH" if path.exists() else "MISSING"
        print(f"model {name}: {state} ({path})")
    return EXIT_OK if ok else EXIT_MODELS


def say(line: str) -> None:
    """Print a line of a command's results on standard output, unless its reader has gone: a
    ``selfie3d photo folder/ | head`` whose pipe closes does not stop the photos still to make
    (they and the report are the results; these lines only tell of them). From then on standard
    output goes nowhere, so neither later lines nor the exit's flush fail."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")


def cmd_photo(args) -> int:
    from pathlib import Path

    from realtime.apps.preload import preload

    # The bust builder's libraries load while the networks start and read the photo.
    preload("realtime.printing.bust", "realtime.printing.export")

    from realtime.stages.imagefile import IMAGE_SUFFIXES, list_images
    from realtime.errors import InputError
    from realtime.fileio import write_text_atomic
    from realtime.apps.executors import make_executor
    from realtime.apps.jobs import plan_jobs

    if args.label is not None:
        from realtime.printing.solids import check_label

        check_label(args.label)  # once, before any photo: every job would fail the same way
    images: list[str] = []
    for item in args.images:
        path = Path(item)
        if path.is_dir():
            found = list_images(path)
            if not found:
                raise InputError(f"{path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
            images.extend(str(p) for p in found)
        else:
            images.append(item)  # a missing or bad file is reported by its job, the rest go on
    providers = parse_providers(args.providers)
    if providers:
        from realtime.stages.inference import available_providers, choose_providers

        choose_providers(available_providers(), list(providers))  # once, before any photo, as for the label
    jobs = plan_jobs(images, args.out, args.format, report=args.report, all_faces=args.all_faces, style=args.style,
                     height_mm=args.height_mm, label=args.label, expression=args.expression,
                     overwrite=args.overwrite, providers=providers, any_face=args.any_face, overlay=args.overlay,
                     level=args.level)
    if args.ray:
        from realtime.apps.executors import RayExecutor

        executor = RayExecutor(None if args.ray == "local" else args.ray, args.debug)
    else:
        executor = make_executor(args.jobs, len(jobs), args.debug)
    results = []
    show_progress = len(jobs) > 1 and sys.stderr.isatty()
    stages = None
    if len(jobs) == 1 and sys.stderr.isatty() and not args.ray:
        from realtime.apps.progress import StageLine

        stages = StageLine(sys.stderr)  # a single photo shows its stages once it takes > 1 s
        from realtime.apps.jobs import report_stages

        report_stages(stages.stage)
    try:
        for done, result in enumerate(executor.map(jobs), start=1):
            if stages is not None:
                stages.close()
            results.append(result)
            if result.ok:
                for face in result.faces:
                    say(f"{result.image_path}: {face['output']}  (PD {face['pd_mm']:.1f} mm, {result.seconds:.1f} s)")
                    if face.get("camera_roll_note"):
                        levelled_only = face.get("camera_roll_from") and not (face.get("photo_upside_down")
                                                                             or face.get("photo_on_its_side"))
                        keeps = " (--no-level keeps it)" if levelled_only else ""
                        say(f"  note: {face['camera_roll_note']}{keeps}")
                    for warning in [face.get("scale_warning")] + face.get("bust_warnings", []):
                        if warning:
                            say(f"  warning: {warning}")
                for failure in result.failed_faces:
                    print(f"selfie3d: error: {result.image_path}: face {failure['face']}: {failure['error']}",
                          file=sys.stderr)
                if result.other_faces:
                    count = len(result.other_faces)
                    say(f"  note: {count} more {'face' if count == 1 else 'faces'} in the photo: the bust is the "
                        f"largest face's; --all-faces makes one of each")
            else:
                print(f"selfie3d: error: {result.error}", file=sys.stderr)
            if show_progress:
                print(f"\r[{done}/{len(jobs)}]", end="", file=sys.stderr, flush=True)
    finally:
        if stages is not None:
            stages.close()
        executor.close()
    if show_progress:
        print(file=sys.stderr)
    failed = [r for r in results if not r.ok]
    report_written = True
    if args.report:
        order = {job.image_path: i for i, job in enumerate(jobs)}
        report = {"images": [
            {"image": r.image_path, "ok": r.ok, "error": r.error, "image_size": list(r.image_size),
             "seconds": round(r.seconds, 3), "faces": r.faces, "other_faces": r.other_faces,
             "failed_faces": r.failed_faces}
            for r in sorted(results, key=lambda r: order.get(r.image_path, 0))],
            "failed": [r.image_path for r in failed]}
        try:
            write_text_atomic(args.report, json.dumps(report, indent=1))
        except (Selfie3DError, OSError) as error:  # checked first, yet the disk can fill or the folder go
            if args.debug:
                raise
            report_written = False
            made = "the outputs above were made but " if len(failed) < len(results) else ""
            print(f"selfie3d: error: {made}the report was not written: {error}", file=sys.stderr)
    if len(jobs) > 1:
        say(f"{len(jobs) - len(failed)} of {len(jobs)} photos done" +
            (f"; failed: {', '.join(r.image_path for r in failed)}" if failed else ""))
    code = photo_exit_code(results)
    # Made but unreported is part of the command failing (1), not "nothing was made" (2).
    return EXIT_SOME_FAILED if code == EXIT_OK and not report_written else code


def photo_exit_code(results) -> int:
    """0 when every photo was made, 1 when some were and some failed (or some faces of one); when
    none was made, the code a single-input command gives for the failures' cause (2 for a missing
    or faceless photo, 3 for the models), so ``photo missing.jpg`` fails like ``demo --video missing.mp4``.
    A result's ``exit_code`` is its error's; results that lack one count as input errors."""
    failed = [r for r in results if not r.ok]
    if not failed:
        # A group photo some of whose faces made no bust was made in part.
        return EXIT_SOME_FAILED if any(getattr(r, "failed_faces", None) for r in results) else EXIT_OK
    if len(failed) < len(results):
        return EXIT_SOME_FAILED
    return max(getattr(r, "exit_code", None) or EXIT_INPUT for r in failed)


def cmd_serve(args) -> int:
    from realtime.apps.web.serve import run_serve

    return run_serve(args)


def cmd_live(args) -> int:
    from realtime.apps.live import options_from_args, run_live

    return run_live(options_from_args(args, pipeline=pipeline_options(args)))


def cmd_calibrate(args) -> int:
    from realtime.apps.calibrate import run_calibrate_cli

    return run_calibrate_cli(args) or 0


COMMANDS = {"demo": cmd_demo, "bench": cmd_bench, "doctor": cmd_doctor, "photo": cmd_photo, "video": cmd_video,
            "calibrate": cmd_calibrate, "live": cmd_live, "serve": cmd_serve}


def _command_word(words: list[str]) -> str | None:
    """The subcommand named on a command line (its first word that is not a flag), or None."""
    return next((word for word in words if not word.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    # Before build_parser: the subcommands' modules import OpenCV.
    quiet_native_logs(sys.argv[1:] if argv is None else argv)
    words = sys.argv[1:] if argv is None else argv
    command = _command_word(words)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_INPUT
    debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="selfie3d: %(levelname)s: %(message)s")
    if getattr(args, "list_cameras", False):
        from realtime.stages.capture import format_cameras, list_cameras

        print(format_cameras(list_cameras()))
        return 0
    try:
        return COMMANDS[args.command](args)
    except Selfie3DError as error:
        if debug:
            raise
        print(f"selfie3d: error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # a file operation no stage wrapped (a folder under a file, a full disk)
        if debug:
            raise
        from realtime.fileio import output_error

        print(f"selfie3d: error: {output_error(error.filename or args.command, error, 'failed')}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("selfie3d: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


EXIT_WITHOUT_TEARDOWN = frozenset({"photo"})
"""Commands that have closed every file and joined every worker of theirs when ``main`` returns:
their process ends without the interpreter's teardown of its ~ 1,250 modules (SciPy, trimesh,
ONNX Runtime...), ~ 0.2 s of a one-photo ``selfie3d photo`` that takes ~ 2 s on a 2-core machine
(``exit_when_alone``)."""


def exit_when_alone(code: int) -> None:
    """End the process with ``code`` at once, unless something else still runs in it.

    What Python's exit does that matters is done: the standard streams are flushed and the exit
    handlers run (``logging``'s flush, ``weakref.finalize``'s, multiprocessing's and any library's
    own); what is skipped is freeing every object and module one by one. Not while a thread that
    is not a daemon is alive, nor while a child process runs: those Python would wait for, so
    this returns and the caller exits the usual way.
    """
    import atexit
    import threading

    others = [thread for thread in threading.enumerate()
              if thread is not threading.current_thread() and not thread.daemon and thread.is_alive()]
    multiprocessing = sys.modules.get("multiprocessing")
    if others or (multiprocessing is not None and multiprocessing.active_children()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(code)


def run() -> None:
    """The ``selfie3d`` command line (the installed script and ``python -m realtime``): ``main``,
    then the process ends with its exit status."""
    code = main()
    if _command_word(sys.argv[1:]) in EXIT_WITHOUT_TEARDOWN:
        exit_when_alone(code)
    sys.exit(code)
