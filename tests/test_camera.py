"""Tests for realtime/camera.py: projection round trips, the default camera, profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from realtime.camera import (
    DEFAULT_HFOV_DEG, CameraIntrinsics, load_camera_profile, profile_from_dict, project, save_camera_profile,
    undistort_pixels, unproject,
)
from realtime.errors import InputError

_ROUND_TRIP_ATOL_MM = 1e-9
_UNDISTORT_ATOL_PX = 0.01  # cv2.undistortPoints iterates to ~1e-3 px
_INTRINSICS = CameraIntrinsics(612.0, 608.0, 321.5, 239.0, 640, 480)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-300, 300), st.floats(-300, 300), st.floats(100, 3000)), min_size=1, max_size=20))
def test_project_unproject_round_trip(points):
    points = np.asarray(points, dtype=np.float64)
    pixels = project(points, _INTRINSICS)
    assert_allclose(unproject(pixels, points[:, 2], _INTRINSICS), points, atol=_ROUND_TRIP_ATOL_MM * 1e3)


def test_project_principal_point_and_focal_length():
    pixels = project(np.array([[0.0, 0.0, 500.0], [100.0, -50.0, 1000.0]]), _INTRINSICS)
    assert_allclose(pixels, [[321.5, 239.0], [321.5 + 61.2, 239.0 - 30.4]], atol=1e-12)


def test_default_field_of_view():
    camera = CameraIntrinsics.default(1280, 720)
    assert camera.assumed and "assumed" in camera.describe()
    assert_allclose(camera.hfov_deg, DEFAULT_HFOV_DEG)
    assert_allclose([camera.fx, camera.cx, camera.cy], [640 / math.tan(math.radians(30)), 640, 360])
    assert_allclose(camera.matrix, [[camera.fx, 0, 640], [0, camera.fy, 360], [0, 0, 1]])


def test_scaled_to_same_aspect_and_rejects_other_aspect():
    half = _INTRINSICS.scaled_to(320, 240)
    assert_allclose([half.fx, half.fy, half.cx, half.cy], [306.0, 304.0, 160.75, 119.5])
    with pytest.raises(InputError, match="aspect"):
        _INTRINSICS.scaled_to(1280, 720)


def test_undistort_round_trip():
    import cv2

    camera = CameraIntrinsics(600.0, 600.0, 320.0, 240.0, 640, 480, np.array([-0.2, 0.05, 0.001, -0.001, 0.0]))
    ideal = np.array([[100.0, 80.0], [320.0, 240.0], [600.0, 450.0]])
    rays = unproject(ideal, np.ones(3), camera)
    distorted, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), camera.matrix, np.asarray(camera.distortion))
    assert_allclose(undistort_pixels(distorted.reshape(-1, 2), camera), ideal, atol=_UNDISTORT_ATOL_PX)


def test_profile_save_load_round_trip(tmp_path):
    camera = CameraIntrinsics(612.0, 608.0, 321.5, 239.0, 640, 480, np.array([0.1, -0.2, 0.001, 0.002, 0.05]), name="desk")
    path = save_camera_profile(camera, tmp_path / "cams" / "desk.toml", {"rms_reprojection_px": 0.2})
    loaded = load_camera_profile(path)
    assert (loaded.fx, loaded.fy, loaded.cx, loaded.cy, loaded.width, loaded.height) == (612.0, 608.0, 321.5, 239.0, 640, 480)
    assert_allclose(loaded.distortion, camera.distortion)
    assert loaded.name == "desk" and not loaded.assumed


def test_profile_by_name_from_user_config(tmp_path, monkeypatch):
    import realtime.camera as camera_module

    monkeypatch.setattr(camera_module, "camera_profiles_dir", lambda: tmp_path)
    save_camera_profile(_INTRINSICS, tmp_path / "laptop.toml")
    assert load_camera_profile("laptop").fx == _INTRINSICS.fx
    with pytest.raises(InputError, match="'nosuch' not found.*laptop"):
        load_camera_profile("nosuch")


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d["intrinsics"].pop("fx"), "intrinsics.fx"),
    (lambda d: d["intrinsics"].update(fy="wide"), "intrinsics.fy"),
    (lambda d: d["intrinsics"].update(fx=-5.0), "intrinsics.fx"),
    (lambda d: d.pop("image"), "image.width"),
    (lambda d: d["distortion"].update(coefficients=[0.1, 0.2]), "distortion.coefficients"),
    (lambda d: d.update(version=99), "version"),
])
def test_bad_profile_names_the_key(mutate, key):
    from realtime.camera import profile_to_dict

    doc = profile_to_dict(_INTRINSICS)
    mutate(doc)
    with pytest.raises(InputError, match=f"'{key}'"):
        profile_from_dict(doc, "test.toml")


def test_invalid_toml_is_an_input_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[intrinsics\nfx = 1")
    with pytest.raises(InputError, match="not valid TOML"):
        load_camera_profile(path)


@pytest.mark.parametrize("section, line, key", [
    ("intrinsics", "cx = nan", "intrinsics.cx"),
    ("intrinsics", "cy = inf", "intrinsics.cy"),
    ("intrinsics", "fx = nan", "intrinsics.fx"),
    ("intrinsics", "cx = -4.0", "intrinsics.cx"),
    ("intrinsics", "cy = 481.0", "intrinsics.cy"),
    ("distortion", "coefficients = [0.1, nan, 0.0, 0.0, 0.0]", "distortion.coefficients"),
    ("distortion", "coefficients = [0.1, 0.0, 0.0, 0.0, -inf]", "distortion.coefficients"),
])
def test_a_profile_with_a_number_that_is_not_finite_or_outside_the_image_is_refused(tmp_path, section, line, key):
    # TOML reads nan and inf as floats: a hand-edited profile must not reach OpenCV's SVD.
    sections = {"image": ["width = 640", "height = 480"],
                "intrinsics": ["fx = 612.0", "fy = 608.0", "cx = 321.5", "cy = 239.0"],
                "distortion": ["coefficients = [0.0, 0.0, 0.0, 0.0, 0.0]"]}
    name = line.split(" = ")[0]
    sections[section] = [line if entry.startswith(f"{name} = ") else entry for entry in sections[section]]
    path = tmp_path / "edited.toml"
    path.write_text("version = 1\n" + "".join(f"[{title}]\n" + "\n".join(entries) + "\n"
                                              for title, entries in sections.items()))
    with pytest.raises(InputError, match=f"camera profile .*edited.toml: key '{key}' must be"):
        load_camera_profile(path)


def test_intrinsics_themselves_refuse_numbers_that_are_not_finite():
    with pytest.raises(InputError, match="cx must be a number of pixels inside the image"):
        CameraIntrinsics(600.0, 600.0, math.nan, 240.0, 640, 480)
    with pytest.raises(InputError, match=r"distortion must be finite numbers \(k1, k2, p1, p2, k3\), got nan for k2"):
        CameraIntrinsics(600.0, 600.0, 320.0, 240.0, 640, 480, np.array([0.0, math.nan, 0.0, 0.0, 0.0]))
