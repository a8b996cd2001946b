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
