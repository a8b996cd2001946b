"""Shared fixtures: the demo clip's frames and real face images that ship with PyPI packages
(tests never read ../shared, which a user's clone does not have)."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from realtime.stages.democlip import DemoClipOptions, astronaut_bgr, render_demo_frame


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The public-domain astronaut portrait, ``(512, 512, 3) uint8`` BGR."""
    return astronaut_bgr()


@pytest.fixture(scope="session")
def grace_hopper_path() -> str:
    """Grace Hopper's public-domain portrait, which matplotlib ships (600 x 512 JPEG)."""
    import matplotlib  # here, not at the top: only these tests need it

    return os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")


@pytest.fixture(scope="session")
def grace_hopper(grace_hopper_path) -> np.ndarray:
    """Grace Hopper's portrait, ``(600, 512, 3) uint8`` BGR."""
    return cv2.imread(grace_hopper_path)


@pytest.fixture(scope="session")
def two_people(astronaut, grace_hopper) -> np.ndarray:
    """A group photo made of the two portraits: the astronaut and Grace Hopper side by side, faces of
    one size (~105 px high) at one height and 18 px apart, as in a crowded group shot
    (``(324, 436, 3) uint8`` BGR; the astronaut's face at x 139-233, y 69-177, Hopper's from x 251,
    the seam at x 230). The segmentation takes each woman for part of the other: without
    ``separate_people`` Hopper's mask covered 94% of the astronaut's face."""
    hopper = cv2.resize(grace_hopper, None, fx=0.54, fy=0.54, interpolation=cv2.INTER_AREA)
    return np.hstack([astronaut[:len(hopper), 40:270], hopper[:, 70:]])


@pytest.fixture(scope="session")
def demo_frames() -> list[np.ndarray]:
    """Every 10th frame of the built-in demo clip (30 frames spanning its 10 s of motion)."""
    options = DemoClipOptions()
    return [render_demo_frame(i, options) for i in range(0, options.frame_count, 10)]


@pytest.fixture(scope="session")
def face_photo_path(tmp_path_factory, astronaut) -> str:
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    cv2.imwrite(str(path), astronaut)
    return str(path)


@pytest.fixture(scope="session")
def gl_ctx():
    """One headless OpenGL context (EGL) for the whole run.

    Where no EGL driver exists the GL tests skip with the reason — except in CI, which
    installs one, so a missing context there fails rather than hiding the GL tests.
    """
    from realtime.errors import Selfie3DError
    from realtime.render import create_headless_context

    try:
        ctx = create_headless_context()
    except Selfie3DError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    yield ctx
    ctx.release()


@pytest.fixture(scope="session")
def head_turn_video(tmp_path_factory, gl_ctx) -> tuple[str, float]:
    """A phone video of a head turn, as a user films one: the rendered astronaut head with hair
    turning gently while fusion settles, then +-60 degrees, ending turned (230 frames at 30 fps,
    640x480 MP4; ``realtime.tools.scan_accuracy.write_sweep_video``). ``(path, last yaw in degrees)``."""
    from realtime.tools.scan_accuracy import ScanSweepOptions, write_sweep_video

    path = tmp_path_factory.mktemp("head_turn") / "turn.mp4"
    last_yaw = write_sweep_video(path, ScanSweepOptions(sweep_frames=130), ctx=gl_ctx)
    return str(path), last_yaw
