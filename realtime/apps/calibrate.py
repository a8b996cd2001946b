"""Camera calibration (``selfie3d calibrate``): chessboard views in, a camera profile out.

Views of a printed chessboard come from a folder of images or a live camera. In each, OpenCV
finds the inner corners (``findChessboardCorners``) and refines them to a tenth of a pixel
(``cornerSubPix``); ``calibrateCamera`` then solves for the focal lengths, principal point and
five distortion coefficients that best explain all views. Out: a ``CalibrationResult`` with a
``CameraIntrinsics`` and the RMS reprojection error, saved as a TOML profile in the user's
config directory (``realtime.camera.camera_profiles_dir()``), where ``--camera-profile NAME``
finds it. A calibration whose RMS error is above ``REJECT_RMS_PX`` is not saved (the command
exits non-zero and says which views fit worst) unless ``--force`` is given: a bad focal length
would silently skew every distance measured with the profile later.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np

from realtime.camera import CameraIntrinsics, camera_profiles_dir, save_camera_profile
from realtime.errors import InputError, Selfie3DError

# Relative: this package is `calibration` in a source checkout and `realtime.calibration` in
# the wheel.

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# calibrateCamera needs views at several tilts to separate focal length from distance; below
# this many usable views the solution is poorly conditioned (OpenCV's docs suggest >= 10).
MIN_VIEWS = 5
# Sub-pixel corner refinement: search half-window (pixels) and stop criteria (iterations,
# pixel change). 11x11 is OpenCV's sample value and suits squares >= ~15 px.
SUBPIX_WINDOW = (11, 11)
SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.01)
# RMS reprojection error, pixels. Sub-pixel corners of a sharp, flat board are good to ~0.1 px
# and a good set of views reaches 0.1-0.5 px: above WARN_RMS_PX the profile is saved with a
# warning. Above REJECT_RMS_PX (OpenCV's usual "recalibrate" rule of thumb) the residuals are
# dominated by something the pinhole + distortion model cannot explain (motion blur, a curled
# print, views from two cameras or zoom settings), so the focal length, and every distance
# later derived from it, cannot be trusted: the profile is not saved unless --force.
WARN_RMS_PX = 0.5
REJECT_RMS_PX = 1.0
# Views named in the rejection message, worst first: the ones to retake or delete.
WORST_VIEWS_SHOWN = 3
# Live capture: keep a view only if the board centre moved this fraction of the image
# diagonal since the last kept view, so views differ.
LIVE_MIN_MOVE = 0.08


def board_corners_mm(board: tuple[int, int], square_mm: float) -> np.ndarray:
    """Inner-corner positions on the board plane, ``(cols * rows, 3) float32`` mm, z = 0, in
    OpenCV's ``findChessboardCorners`` order (row by row)."""
    cols, rows = board
    grid = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2).astype(np.float32) * square_mm
    return np.concatenate([grid, np.zeros((len(grid), 1), np.float32)], axis=1)


@dataclass(frozen=True)
class CalibrationOptions:
    board: tuple[int, int] = (9, 6)  # inner corners (cols, rows)
    square_mm: float = 25.0  # square side, mm
    # Estimate k3 too: needed for wide-angle lenses, harmless with enough views.
    fix_k3: bool = False


@dataclass(frozen=True)
class CalibrationResult:
    """intrinsics: the camera. rms_px: RMS reprojection error, pixels.
    views_used / views_total: images where the board was found / images read.
    per_view_rms_px: ``(views_used,) float64`` pixels. view_labels: ``views_used`` names of
    the views with a board (file paths, "view N"), in the order of ``per_view_rms_px``.
    skipped: one line per image file that could not be read (not counted in views_total)."""

    intrinsics: CameraIntrinsics
    rms_px: float
    views_used: int
    views_total: int
    per_view_rms_px: np.ndarray
    view_labels: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    def summary(self) -> dict:
        """The ``[calibration]`` table of the saved profile."""
        return {"rms_reprojection_px": float(self.rms_px), "views_used": int(self.views_used),
                "views_total": int(self.views_total),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def find_board(image: np.ndarray, board: tuple[int, int]) -> np.ndarray | None:
    """Inner corners of a chessboard, ``(cols * rows, 2) float32`` pixels, or None.

    image: ``(H, W, 3) uint8`` BGR or ``(H, W) uint8`` grey.
    """
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH + cv2.CALIB_CB_NORMALIZE_IMAGE + cv2.CALIB_CB_FAST_CHECK
    found, corners = cv2.findChessboardCorners(grey, board, flags=flags)
    if not found:
        return None
    corners = cv2.cornerSubPix(grey, corners, SUBPIX_WINDOW, (-1, -1), SUBPIX_CRITERIA)
    return corners.reshape(-1, 2)


def _load_images(source: str | Path | Sequence,
                 on_skip: Callable[[str], None] | None = None) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """The readable images of ``source`` as ``(label, (H, W, 3) uint8 BGR)`` and one line per
    file that is not a readable image. A damaged or stray file among good views (a truncated
    JPEG, notes saved as .jpg) is skipped, not fatal: the other views still calibrate, and
    ``calibrate_from_corners`` refuses if too few are left. ``on_skip`` gets each line as it
    happens."""
    from realtime.stages.imagefile import load_image

    if isinstance(source, (str, Path)):
        folder = Path(source)
        if not folder.is_dir():
            raise InputError(f"calibration images: {folder} is not a folder")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise InputError(f"calibration images: no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
        source = paths
    images, skipped = [], []
    for i, item in enumerate(source):
        if isinstance(item, np.ndarray):
            images.append((f"image {i}", item))
            continue
        try:
            # One decoder for every command: libjpeg's and OpenCV's own lines become our line.
            images.append((str(item), load_image(item)))
        except InputError as error:
            skipped.append(str(error))
            if on_skip is not None:
                on_skip(str(error))
    if not images:
        raise InputError(f"calibration images: none of the {len(skipped)} images could be read")
    return images, skipped


def calibrate_from_images(images: str | Path | Sequence[str | Path | np.ndarray], board: tuple[int, int] = (9, 6),
                          square_mm: float = 25.0, name: str = "calibrated",
                          on_skip: Callable[[str], None] | None = None) -> CalibrationResult:
    """Calibrate from views of a chessboard.

    images: a folder, or a list of paths or ``(H, W, 3) uint8`` BGR arrays, all one size.
    board: inner corners (cols, rows). square_mm: square side, mm (sets the units of the
    board poses only; intrinsics are in pixels either way). name: the profile's name.
    Files that are not readable images are skipped (``on_skip`` gets one line for each; the
    result lists them in ``skipped``). Raises ``InputError`` when no image is readable, for
    mixed sizes or too few views with a board.
    """
    loaded, skipped = _load_images(images, on_skip)
    sizes = {img.shape[:2] for _, img in loaded}
    if len(sizes) != 1:
        raise InputError(f"calibration images: all images must have one size, got {sorted(sizes)}")
    height, width = next(iter(sizes))
    views = [(label, find_board(img, board)) for label, img in loaded]
    found = [(label, c) for label, c in views if c is not None]
    result = calibrate_from_corners([c for _, c in found], (width, height), board, square_mm, name,
                                    views_total=len(loaded), labels=[label for label, _ in found])
    return dataclasses.replace(result, skipped=tuple(skipped))


def calibrate_from_corners(corners: Sequence[np.ndarray], image_size: tuple[int, int], board: tuple[int, int],
                           square_mm: float, name: str = "calibrated", views_total: int | None = None,
                           labels: Sequence[str] | None = None) -> CalibrationResult:
    """``calibrateCamera`` on detected corners: ``corners`` is a list of ``(cols * rows, 2)``
    pixel arrays, image_size (width, height) pixels; labels: one name per view (default
    "view 1", "view 2", ...). Raises ``InputError`` below ``MIN_VIEWS`` views."""
    total = len(corners) if views_total is None else views_total
    labels = tuple(labels) if labels is not None else tuple(f"view {i + 1}" for i in range(len(corners)))
    if len(labels) != len(corners):
        raise ValueError(f"calibration: {len(labels)} labels for {len(corners)} views")
    if len(corners) < MIN_VIEWS:
        raise InputError(f"calibration: the {board[0]}x{board[1]} board was found in {len(corners)} of {total} "
                         f"images, at least {MIN_VIEWS} are needed (check --board: it counts inner corners)")
    object_points = [board_corners_mm(board, square_mm)] * len(corners)
    image_points = [np.asarray(c, np.float32).reshape(-1, 1, 2) for c in corners]
    width, height = image_size
    rms, matrix, distortion, rvecs, tvecs = cv2.calibrateCamera(object_points, image_points, (width, height), None, None)
    per_view = []
    for points, found, rvec, tvec in zip(object_points, image_points, rvecs, tvecs):
        projected, _ = cv2.projectPoints(points, rvec, tvec, matrix, distortion)
        per_view.append(float(np.sqrt(((projected - found) ** 2).sum(-1).mean())))
    intrinsics = CameraIntrinsics(float(matrix[0, 0]), float(matrix[1, 1]), float(matrix[0, 2]), float(matrix[1, 2]),
                                  int(width), int(height), np.asarray(distortion, np.float64).reshape(-1)[:5], name=name)
    return CalibrationResult(intrinsics, float(rms), len(corners), total, np.asarray(per_view), labels)


def worst_views(result: CalibrationResult, count: int = WORST_VIEWS_SHOWN) -> list[tuple[str, float]]:
    """The ``count`` views with the largest RMS reprojection error, worst first:
    ``(label, rms px)``."""
    labels = result.view_labels or tuple(f"view {i + 1}" for i in range(result.views_used))
    order = np.argsort(-np.asarray(result.per_view_rms_px, np.float64), kind="stable")[:count]
    return [(labels[i], float(result.per_view_rms_px[i])) for i in order]


def rejection_message(result: CalibrationResult, reject_rms_px: float = REJECT_RMS_PX) -> str | None:
    """Why ``result`` must not be saved, in one line, or None when its RMS error is at most
    ``reject_rms_px`` pixels."""
    if result.rms_px <= reject_rms_px:
        return None
    worst = ", ".join(f"{Path(label).name} {rms:.2f} px" for label, rms in worst_views(result))
    return (f"calibration: RMS reprojection error {result.rms_px:.2f} px over {result.views_used} views is above "
            f"{reject_rms_px} px, so the profile was not saved (worst views: {worst}); retake sharp, well-lit views "
            f"of a flat, rigid board at varied tilts, all from this camera at one zoom, and check --board, "
            f"or pass --force to save it anyway")


def capture_views(camera: int, board: tuple[int, int], views: int, max_frames: int = 3000,
                  show: bool = True, quiet: bool = True) -> tuple[list[np.ndarray], tuple[int, int]]:
    """Collect ``views`` distinct board views from a live camera. Returns the corners and the
    image size (width, height). Shows a preview window when ``show`` (press q to stop).
    ``quiet``: keep OpenCV's own log lines off stderr while the camera opens and reads, as
    every command does (a missing camera prints "[ERROR:0@0.051] global
    obsensor_uvc_stream_channel.cpp" even at OPENCV_LOG_LEVEL=ERROR); our one line says what
    matters."""
    from realtime.stages.imagefile import quiet_opencv

    opencv_logs = quiet_opencv if quiet else contextlib.nullcontext
    with opencv_logs():
        capture = cv2.VideoCapture(camera)
    if not capture.isOpened():
        raise InputError(f"calibration: cannot open camera {camera}; check it is plugged in and not used by "
                         "another program ('selfie3d live --list-cameras' lists them), or use --images DIR")
    kept: list[np.ndarray] = []
    size = None
    last_centre = None
    try:
        for _ in range(max_frames):
            with opencv_logs():
                ok, frame = capture.read()
            if not ok:
                raise InputError(f"calibration: camera {camera} stopped delivering frames")
            size = (frame.shape[1], frame.shape[0])
            corners = find_board(frame, board)
            if corners is not None:
                centre = corners.mean(axis=0)
                diagonal = float(np.hypot(*size))
                if last_centre is None or np.linalg.norm(centre - last_centre) > LIVE_MIN_MOVE * diagonal:
                    kept.append(corners)
                    last_centre = centre
                    print(f"view {len(kept)}/{views}", file=sys.stderr)
            if show:
                preview = frame.copy()
                if corners is not None:
                    cv2.drawChessboardCorners(preview, board, corners.reshape(-1, 1, 2), True)
                cv2.putText(preview, f"{len(kept)}/{views} views: move and tilt the board", (10, 30),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 0), 2)
                cv2.imshow("selfie3d calibrate", preview)
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
            if len(kept) >= views:
                break
    finally:
        capture.release()
        if show:
            cv2.destroyAllWindows()
    return kept, size


# --------------------------------------------------------------------------------------------
# Command line (wired into `selfie3d calibrate` by realtime/apps/cli.py)


def parse_board(text: str) -> tuple[int, int]:
    """``"9x6"`` -> (9, 6); argparse type."""
    try:
        cols, rows = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"board must look like 9x6 (inner corners), got {text!r}") from None
    if cols < 2 or rows < 2:
        raise argparse.ArgumentTypeError(f"board needs at least 2x2 inner corners, got {text!r}")
    return cols, rows


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``selfie3d calibrate``."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", metavar="DIR", help="folder of chessboard photos, all from one camera at one size")
    source.add_argument("--camera", metavar="N", type=int, help="calibrate live from webcam N (0 = first camera)")
    parser.add_argument("--board", type=parse_board, default=(9, 6), metavar="COLSxROWS",
                        help="inner corners of the chessboard, columns x rows (default: 9x6, OpenCV's sample board)")
    parser.add_argument("--square-mm", type=float, default=25.0, metavar="MM",
                        help="side of one printed square, millimetres (default: 25)")
    parser.add_argument("--name", default="default", help="profile name, used by --camera-profile NAME (default: default)")
    parser.add_argument("--output", metavar="PATH", default=None,
                        help="write the profile here instead of <user config>/selfie3d/cameras/NAME.toml")
    parser.add_argument("--views", type=int, default=15, metavar="N",
                        help="live mode: number of distinct board views to collect (default: 15)")
    parser.add_argument("--no-preview", action="store_true", help="live mode: do not open a preview window")
    parser.add_argument("--force", action="store_true",
                        help=f"save the profile even when its RMS reprojection error is above {REJECT_RMS_PX} px "
                             f"(default: refuse, exit non-zero and save nothing; above {WARN_RMS_PX} px it is saved "
                             "with a warning)")


def run_calibrate_cli(args: argparse.Namespace) -> int:
    """Run ``selfie3d calibrate``; prints the result, saves the profile, returns the exit code.

    Raises ``InputError`` (nothing saved) for fewer than ``MIN_VIEWS`` views with a board, or
    an RMS error above ``REJECT_RMS_PX`` without ``args.force``."""
    board = args.board if isinstance(args.board, tuple) else parse_board(args.board)
    if args.square_mm <= 0:
        raise InputError(f"--square-mm must be positive, got {args.square_mm}")
    if args.images is not None:
        result = calibrate_from_images(args.images, board, args.square_mm, name=args.name,
                                       on_skip=lambda line: print(f"warning: skipped {line}", file=sys.stderr))
    else:
        corners, size = capture_views(args.camera, board, args.views, show=not args.no_preview,
                                      quiet=not getattr(args, "debug", False))
        result = calibrate_from_corners(corners, size, board, args.square_mm, name=args.name)
    output = Path(args.output) if args.output else camera_profiles_dir() / f"{args.name}.toml"
    k = result.intrinsics
    print(f"calibrated from {result.views_used} of {result.views_total} views: fx={k.fx:.1f} fy={k.fy:.1f} "
          f"cx={k.cx:.1f} cy={k.cy:.1f} px ({k.width}x{k.height}, {k.hfov_deg:.1f} deg horizontal), "
          f"RMS reprojection error {result.rms_px:.2f} px")
    rejection = rejection_message(result)
    if rejection is not None and not getattr(args, "force", False):
        raise InputError(rejection)
    if result.rms_px > WARN_RMS_PX:
        worst = ", ".join(f"{Path(label).name} {rms:.2f} px" for label, rms in worst_views(result))
        print(f"warning: RMS error {result.rms_px:.2f} px is above {WARN_RMS_PX} px (a good set reaches 0.1-0.5 px; "
              f"worst views: {worst}); distances measured with this profile may be off", file=sys.stderr)
    extra = {**result.summary(), "board": f"{board[0]}x{board[1]}", "square_mm": float(args.square_mm)}
    save_camera_profile(result.intrinsics, output, extra)
    print(f"saved camera profile to {output}; use it with --camera-profile {args.name if not args.output else output}")
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    """Stand-alone entry: ``python -m calibration.calibrate --images DIR``. A user error is
    one line on stderr and its exit code, as in ``selfie3d calibrate``."""
    parser = argparse.ArgumentParser(prog="selfie3d calibrate", description=__doc__.split("\n\n")[0])
    add_calibrate_arguments(parser)
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        return run_calibrate_cli(args)
    except Selfie3DError as error:
        print(f"selfie3d calibrate: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
