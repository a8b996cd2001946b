"""The built-in demo clip: a real face photo animated with plausible head motion.

No webcam and no download is needed to see selfie3d work. The source is the public-domain
astronaut portrait (Eileen Collins, NASA) that scikit-image ships (``skimage.data.astronaut()``).
Each frame is a perspective warp of that photo around the face: in-plane roll, scale,
translation and a perspective tilt that imitates small yaw and pitch, all smooth sinusoids of
time, plus the grain a webcam sensor adds. Frame ``i`` depends only on ``i`` and the options,
so the clip is deterministic and needs no file on disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

# Face centre and size in the 512x512 astronaut photo, in pixels (measured with the face
# detector once; the warp centres on it so the face stays in frame while it moves).
ASTRONAUT_FACE_CENTER_PX = (225.0, 123.0)
ASTRONAUT_FACE_SIZE_PX = 94.0


@dataclass(frozen=True)
class DemoClipOptions:
    width: int = 640  # output frame size, pixels
    height: int = 480
    fps: float = 30.0
    duration_s: float = 10.0
    # Face width in the output frame, as a fraction of the frame width: a person about 60 cm
    # from a laptop webcam fills roughly a quarter of a 640-pixel frame.
    face_fraction: float = 0.3
    motion: bool = True  # False holds the face still (jitter measurements)
    # Per-pixel Gaussian noise, in 8-bit grey levels: a typical webcam at indoor light shows
    # 1-3 levels of temporal noise.
    noise_sigma: float = 2.0
    seed: int = 2017

    @property
    def frame_count(self) -> int:
        return int(round(self.duration_s * self.fps))


@lru_cache(maxsize=1)
def astronaut_bgr() -> np.ndarray:
    """The astronaut photo, ``(512, 512, 3) uint8`` BGR."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def head_motion(t_s: float, motion: bool = True) -> dict[str, float]:
    """Head motion parameters at time ``t_s`` (seconds).

    Returns roll (radians), scale (relative), tx, ty (fractions of the frame size) and the
    perspective tilt terms yaw_tilt, pitch_tilt (dimensionless, ~sin of the angle). Sums of
    incommensurate sinusoids so the motion never repeats exactly within the clip.
    """
    if not motion:
        return dict(roll=0.0, scale=1.0, tx=0.0, ty=0.0, yaw_tilt=0.0, pitch_tilt=0.0)
    return dict(
        roll=math.radians(12.0) * math.sin(2 * math.pi * 0.13 * t_s) + math.radians(4.0) * math.sin(2 * math.pi * 0.41 * t_s),
        scale=1.0 + 0.15 * math.sin(2 * math.pi * 0.07 * t_s + 0.5),
        tx=0.08 * math.sin(2 * math.pi * 0.11 * t_s + 1.0),
        ty=0.05 * math.sin(2 * math.pi * 0.17 * t_s + 2.0),
        yaw_tilt=0.25 * math.sin(2 * math.pi * 0.09 * t_s),
        pitch_tilt=0.15 * math.sin(2 * math.pi * 0.15 * t_s + 0.3),
    )


def frame_homography(params: dict[str, float], options: DemoClipOptions) -> np.ndarray:
    """Homography from astronaut-photo pixels to output-frame pixels, ``(3, 3) float64``.

    Composition, applied right to left: move the face centre to the origin; tilt (a
    perspective term ``w = 1 + a*x + b*y`` in face-size units, which foreshortens one side like a
    turning head); roll and scale; move to the frame centre plus the translation.
    """
    cx, cy = ASTRONAUT_FACE_CENTER_PX
    to_origin = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    unit = 1.0 / ASTRONAUT_FACE_SIZE_PX
    tilt = np.array(
        [[1, 0, 0], [0, 1, 0], [params["yaw_tilt"] * unit * 0.5, params["pitch_tilt"] * unit * 0.5, 1]],
        dtype=np.float64,
    )
    zoom = params["scale"] * options.face_fraction * options.width / ASTRONAUT_FACE_SIZE_PX
    c, s = math.cos(params["roll"]), math.sin(params["roll"])
    roll_scale = np.array([[zoom * c, -zoom * s, 0], [zoom * s, zoom * c, 0], [0, 0, 1]], dtype=np.float64)
    centre_x = options.width * (0.5 + params["tx"])
    centre_y = options.height * (0.45 + params["ty"])
    to_frame = np.array([[1, 0, centre_x], [0, 1, centre_y], [0, 0, 1]], dtype=np.float64)
    return to_frame @ roll_scale @ tilt @ to_origin


def render_demo_frame(index: int, options: DemoClipOptions = DemoClipOptions()) -> np.ndarray:
    """Frame ``index`` of the demo clip, ``(height, width, 3) uint8`` BGR."""
    params = head_motion(index / options.fps, options.motion)
    homography = frame_homography(params, options)
    frame = cv2.warpPerspective(
        astronaut_bgr(), homography, (options.width, options.height),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101,
    )
    if options.noise_sigma > 0:
        rng = np.random.default_rng((options.seed, index))
        noise = rng.normal(0.0, options.noise_sigma, frame.shape).astype(np.float32)
        frame = np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return frame
