"""Camera model: pinhole intrinsics with OpenCV distortion, projection, and camera profiles.

Everything metric in selfie3d goes through this module. ``CameraIntrinsics`` holds the focal
lengths and principal point in pixels, the image size they belong to and the five OpenCV
distortion coefficients; ``project``/``unproject`` map between camera space (OpenCV axes: x
right, y down, z forward, millimetres) and pixels. Profiles are small TOML files written by
``selfie3d calibrate`` into the user's config directory (``platformdirs``) or shipped in
``calibration/profiles``; ``load_camera_profile`` finds them by name or path. Without a profile
``CameraIntrinsics.default`` assumes a typical webcam field of view (``DEFAULT_HFOV_DEG``), and
``CameraIntrinsics.assumed`` says so, so reports can state the assumption.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from realtime.errors import InputError
from realtime.shapes import check_shape

# Horizontal field of view assumed when no camera profile is given, degrees. Built-in laptop
# webcams span about 55-70 degrees horizontally (65-80 diagonal); 60 sits in that range. Only
# absolute distances (the pose translation) depend on it: metric sizes (identity mesh, PD,
# face width) come from the iris diameter measured in the image and are, to first order,
# independent of the focal length. A camera whose true field of view is 70 degrees makes the
# reported distance ~20% too large (tan 35 / tan 30 = 1.21).
DEFAULT_HFOV_DEG = 60.0

# Profile files are versioned so a future layout change can still read old files.
PROFILE_VERSION = 1

# Image sizes in a profile and a frame are treated as the same aspect ratio within this
# relative difference: 640x480 vs 1280x960 scale exactly, 1280x720 vs 640x480 do not.
ASPECT_TOLERANCE = 0.01


def intrinsics_problem(fx: float, fy: float, cx: float, cy: float, width: int, height: int,
                       distortion) -> tuple[str, str] | None:
    """What is wrong with these intrinsics, as ``(key, "must be ..., got ...")``, or None.

    Every number must be finite (a NaN or an infinity poisons every projection, and OpenCV's
    undistortion then fails deep inside with "SVD did not converge"); the focal lengths and the
    image size positive; the principal point inside the image (``0 <= cx <= width``,
    ``0 <= cy <= height``, pixels): a calibration puts it near the centre, never outside."""
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        return "image.width/image.height", f"must be a positive size in pixels, got {width}x{height}"
    for key, value in (("fx", fx), ("fy", fy)):
        if not (math.isfinite(value) and value > 0):
            return key, f"must be a positive number of pixels, got {value}"
    for key, value, limit in (("cx", cx, width), ("cy", cy, height)):
        if not (math.isfinite(value) and 0.0 <= value <= limit):
            return key, f"must be a number of pixels inside the image (0..{limit}), got {value}"
    values = np.asarray(distortion, dtype=np.float64).ravel()
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        names = ("k1", "k2", "p1", "p2", "k3")
        index = int(bad[0])
        return "distortion", (f"must be finite numbers (k1, k2, p1, p2, k3), got {values[index]} for "
                              f"{names[index] if index < len(names) else index}")
    return None


def _zero_distortion() -> np.ndarray:
    return np.zeros(5, dtype=np.float64)


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of one camera at one image size.

    fx, fy: focal lengths, pixels. cx, cy: principal point, pixels (image-space convention:
    origin at the top-left pixel's corner). width, height: image size, pixels.
    distortion: ``(5,) float64`` OpenCV ``(k1, k2, p1, p2, k3)``.
    name: where the values came from (profile name, ``"default"``).
    assumed: True when the values are the documented default, not a calibration.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion: np.ndarray = field(default_factory=_zero_distortion)
    name: str = "custom"
    assumed: bool = False

    def __post_init__(self):
        distortion = check_shape("distortion", self.distortion, (5,), dtype=np.float64).copy()
        distortion.setflags(write=False)
        object.__setattr__(self, "distortion", distortion)
        problem = intrinsics_problem(self.fx, self.fy, self.cx, self.cy, self.width, self.height, distortion)
        if problem:
            key, text = problem
            raise InputError(f"camera intrinsics: {key} {text}")

    @classmethod
    def default(cls, width: int, height: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> "CameraIntrinsics":
        """Intrinsics assumed without a profile: square pixels, centred principal point.

        fx = (width / 2) / tan(hfov / 2); no distortion. ``assumed`` is True.
        """
        fx = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(fx, fx, width / 2.0, height / 2.0, int(width), int(height),
                   name=f"default ({hfov_deg:g} deg horizontal field of view)", assumed=True)

    @property
    def matrix(self) -> np.ndarray:
        """The camera matrix ``K``, ``(3, 3) float64``."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view, degrees."""
        return math.degrees(2.0 * math.atan(self.width / (2.0 * self.fx)))

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.distortion != 0.0))

    def scaled_to(self, width: int, height: int) -> "CameraIntrinsics":
        """The same camera at another resolution of the same aspect ratio (focal lengths and
        principal point scale with the image). Raises ``InputError`` if the aspect differs,
        because a cropped sensor mode cannot be derived from the profile."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        if abs(sx / sy - 1.0) > ASPECT_TOLERANCE:
            raise InputError(
                f"camera profile '{self.name}' is for {self.width}x{self.height} images, the frames are "
                f"{width}x{height} (a different aspect ratio); calibrate at this resolution"
            )
        return replace(self, fx=self.fx * sx, fy=self.fy * sy, cx=self.cx * sx, cy=self.cy * sy,
                       width=int(width), height=int(height))

    def describe(self) -> str:
        """One line for reports: the source and, for the default, that it is an assumption."""
        text = f"fx={self.fx:.1f} fy={self.fy:.1f} cx={self.cx:.1f} cy={self.cy:.1f} px at {self.width}x{self.height}"
        if self.assumed:
            return f"no camera profile: assumed {self.name}, {text}; distances may be off by ~20%"
        return f"camera profile '{self.name}': {text}"


# --------------------------------------------------------------------------------------------
# Pure projection functions


def project(points_mm: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Pinhole projection (no distortion) of camera-space points.

    points_mm: ``(n, 3)`` camera space (OpenCV axes), millimetres, z > 0.
    Returns ``(n, 2) float64`` pixels.
    """
    points = check_shape("points_mm", points_mm, (None, 3), dtype=np.float64)
    z = points[:, 2]
    # u = fx * X / Z + cx ; v = fy * Y / Z + cy
    return np.stack([intrinsics.fx * points[:, 0] / z + intrinsics.cx,
                     intrinsics.fy * points[:, 1] / z + intrinsics.cy], axis=1)


def unproject(pixels: np.ndarray, depth_mm: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Inverse of ``project``: pixels and their depths to camera-space points.

    pixels: ``(n, 2)`` pixels (undistorted). depth_mm: ``(n,)`` z in millimetres.
    Returns ``(n, 3) float64`` millimetres.
    """
    pixels = check_shape("pixels", pixels, (None, 2), dtype=np.float64)
    depth = check_shape("depth_mm", depth_mm, (pixels.shape[0],), dtype=np.float64)
    # X = (u - cx) * Z / fx ; Y = (v - cy) * Z / fy
    return np.stack([(pixels[:, 0] - intrinsics.cx) * depth / intrinsics.fx,
                     (pixels[:, 1] - intrinsics.cy) * depth / intrinsics.fy, depth], axis=1)


def undistort_pixels(pixels: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Remove lens distortion from pixel positions: ``(n, 2)`` px in, ``(n, 2) float64`` px out
    (the ideal pinhole pixels of the same camera matrix). A no-op without distortion."""
    pixels = check_shape("pixels", pixels, (None, 2), dtype=np.float64)
    if not intrinsics.has_distortion or len(pixels) == 0:
        return pixels.copy()
    import cv2

    out = cv2.undistortPoints(pixels.reshape(-1, 1, 2), intrinsics.matrix, np.asarray(intrinsics.distortion),
                              P=intrinsics.matrix)
    return out.reshape(-1, 2).astype(np.float64)


# --------------------------------------------------------------------------------------------
# Profiles (TOML)


def camera_profiles_dir() -> Path:
    """The user's profile folder: ``platformdirs.user_config_dir("selfie3d")/cameras``."""
    import platformdirs

    return Path(platformdirs.user_config_dir("selfie3d")) / "cameras"


def _builtin_profiles_dir() -> Path | None:
    try:
        from realtime.resources import calibration_dir

        return calibration_dir() / "profiles"
    except (ImportError, ModuleNotFoundError):
        # Source checkout: calibration/ sits next to realtime/.
        candidate = Path(__file__).resolve().parent.parent / "calibration" / "profiles"
        return candidate if candidate.is_dir() else None


def profile_to_dict(intrinsics: CameraIntrinsics, extra: dict | None = None) -> dict:
    """The TOML document for a profile, as nested dicts (``extra`` becomes ``[calibration]``)."""
    doc = {
        "version": PROFILE_VERSION,
        "name": intrinsics.name,
        "image": {"width": int(intrinsics.width), "height": int(intrinsics.height)},
        "intrinsics": {"fx": float(intrinsics.fx), "fy": float(intrinsics.fy),
                       "cx": float(intrinsics.cx), "cy": float(intrinsics.cy)},
        # OpenCV order k1, k2, p1, p2, k3.
        "distortion": {"coefficients": [float(v) for v in intrinsics.distortion]},
    }
    if extra:
        doc["calibration"] = dict(extra)
    return doc


def _require(doc: dict, path: str, kind, source: str):
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise InputError(f"camera profile {source}: missing key '{path}'")
        node = node[part]
    if kind is float and isinstance(node, int) and not isinstance(node, bool):
        node = float(node)
    if isinstance(node, bool) or (kind is not None and not isinstance(node, kind)):
        raise InputError(f"camera profile {source}: key '{path}' must be a {kind.__name__}, got {node!r}")
    return node


def profile_from_dict(doc: dict, source: str = "<dict>") -> CameraIntrinsics:
    """Parse a profile document; ``InputError`` names the offending key."""
    version = doc.get("version", PROFILE_VERSION)
    if version != PROFILE_VERSION:
        raise InputError(f"camera profile {source}: key 'version' is {version!r}, this selfie3d reads {PROFILE_VERSION}")
    width = _require(doc, "image.width", int, source)
    height = _require(doc, "image.height", int, source)
    values = {key: _require(doc, f"intrinsics.{key}", float, source) for key in ("fx", "fy", "cx", "cy")}
    coefficients = doc.get("distortion", {}).get("coefficients", [0.0] * 5) if isinstance(doc.get("distortion", {}), dict) else None
    if (not isinstance(coefficients, list) or len(coefficients) != 5
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coefficients)):
        raise InputError(f"camera profile {source}: key 'distortion.coefficients' must be a list of 5 numbers (k1, k2, p1, p2, k3)")
    problem = intrinsics_problem(values["fx"], values["fy"], values["cx"], values["cy"], width, height, coefficients)
    if problem:
        key, text = problem
        where = {"distortion": "distortion.coefficients", "image.width/image.height": "image.width'/'image.height"}.get(
            key, f"intrinsics.{key}")
        raise InputError(f"camera profile {source}: key '{where}' {text}")
    name = doc.get("name", Path(source).stem)
    return CameraIntrinsics(values["fx"], values["fy"], values["cx"], values["cy"], width, height,
                            np.asarray(coefficients, dtype=np.float64), name=str(name), assumed=False)


def save_camera_profile(intrinsics: CameraIntrinsics, path: str | Path, extra: dict | None = None) -> Path:
    """Write ``intrinsics`` as a TOML profile to ``path`` (folders are created); returns the path."""
    import tomli_w

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tomli_w.dumps(profile_to_dict(intrinsics, extra)).encode("utf-8"))
    return path


def load_camera_profile(name_or_path: str | Path) -> CameraIntrinsics:
    """Load a profile given a file path or a name.

    A name is looked up as ``NAME.toml`` in ``camera_profiles_dir()`` first, then among the
    profiles shipped in ``calibration/profiles``. Raises ``InputError`` for a missing file
    (listing the known names) or a malformed one (naming the key).
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix.lower() != ".toml" or not candidate.is_file():
        folders = [camera_profiles_dir(), _builtin_profiles_dir()]
        found = [f / f"{name_or_path}.toml" for f in folders if f is not None and (f / f"{name_or_path}.toml").is_file()]
        if candidate.is_file():
            found.insert(0, candidate)
        if not found:
            known = sorted({p.stem for f in folders if f is not None and f.is_dir() for p in f.glob("*.toml")})
            listing = ", ".join(known) if known else "none yet; run 'selfie3d calibrate'"
            raise InputError(f"camera profile '{name_or_path}' not found (known profiles: {listing})")
        candidate = found[0]
    try:
        doc = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"camera profile {candidate}: not valid TOML ({error})") from None
    intrinsics = profile_from_dict(doc, str(candidate))
    if "name" not in doc:
        intrinsics = replace(intrinsics, name=candidate.stem)
    return intrinsics
