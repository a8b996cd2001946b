"""Photo mode's sizes (``realtime.stages.photo``: PD, face width, turn) on rendered heads of known size.

The astronaut's head (``realtime.tools.synthetic_face``) is rendered at known turns and read back as
a single photo. Truth: the head's own PD and outline width. A turned face must not inflate the
face width (the eye turned away reads small and used to set the scale: +37% at 40 deg), and a
strongly turned one must say its sizes are less certain.
"""

from __future__ import annotations

import numpy as np
import pytest

from realtime.camera import CameraIntrinsics
from realtime.stages.photo import FACE_WIDTH_LANDMARKS, PhotoReconstructor
from realtime.stages.scale import TURNED_FACE_DEG
from realtime.tools.synthetic_face import SyntheticFaceRenderer, astronaut_head, head_rotation

_INTRINSICS = CameraIntrinsics.default(640, 480)
_TRANSLATION_MM = np.array([0.0, 0.0, 550.0])
# Measured (yaw 0 / 20 / -30 / 40 deg): PD +3.0 / +0.5 / +1.2 / -3.0%, face width -2.1 / +0.3 /
# +0.7 / +6.5%, with the iris weighed against adult face proportions (issue 14; the iris alone:
# PD +0.3 / +3.0 / -4.1 / +6.1%, width -4.6 / +2.8 / -4.6 / +16.6%: the painted irises turn with
# the head and read small when oblique).
_PD_REL_TOL = 0.06
_WIDTH_REL_TOL = 0.10
_TURN_TOL_DEG = 8.0


@pytest.fixture(scope="module")
def head():
    return astronaut_head()


@pytest.fixture(scope="module")
def read_at(gl_ctx, head):
    faces = {}
    with SyntheticFaceRenderer(gl_ctx, head) as renderer, PhotoReconstructor() as photo:
        for yaw in (0.0, 20.0, -30.0, 40.0, 60.0):
            image = renderer.render(head_rotation(yaw, 5.0), _TRANSLATION_MM, _INTRINSICS)
            faces[yaw] = photo.run(image).faces[0]
    return faces


@pytest.mark.parametrize("yaw", [0.0, 20.0, -30.0, 40.0])
def test_pd_and_face_width_of_a_turned_face(read_at, head, yaw):
    face = read_at[yaw]
    true_width = float(np.linalg.norm(np.subtract(*head.face_mm[list(FACE_WIDTH_LANDMARKS)])))
    assert face.iris_px is not None and face.scale_weights["iris"] > 0  # the painted irises were read
    assert abs(face.pd_mm / head.pd_mm - 1.0) <= _PD_REL_TOL, (face.pd_mm, head.pd_mm)
    assert abs(face.face_width_mm / true_width - 1.0) <= _WIDTH_REL_TOL, (face.face_width_mm, true_width)
    assert abs(abs(face.turn_deg) - abs(yaw)) <= _TURN_TOL_DEG, face.turn_deg


def test_turn_sign_follows_the_head(read_at):
    # The sign says which eye is the far one: opposite turns read opposite signs.
    assert np.sign(read_at[40.0].turn_deg) == -np.sign(read_at[-30.0].turn_deg) != 0


def test_a_strongly_turned_face_says_its_sizes_are_less_certain(read_at):
    assert read_at[20.0].report()["scale_warning"] is None
    face = read_at[60.0]
    assert abs(face.turn_deg) > TURNED_FACE_DEG
    assert "turned" in face.report()["scale_warning"]
