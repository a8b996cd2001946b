import math

import cv2

import numpy as np
import pytest
from numpy.testing import assert_allclose

from realtime.stages.roi import (FACE_ROI_SCALE, Roi, crop, crop_to_frame, crop_to_image, crop_transform, eye_line_rotation,
                          iou, normalize_radians, roi_from_detection, roi_from_landmarks)

PIXEL_TOLERANCE = 1e-3  # affine round trips are exact up to float32 rounding


def test_rotation_levels_the_eye_line():
    # image y points down: an eye line rising to the right (end above start) is a positive angle
    assert eye_line_rotation(np.array([0.0, 0.0]), np.array([10.0, 0.0])) == pytest.approx(0.0)
    assert eye_line_rotation(np.array([0.0, 0.0]), np.array([10.0, -10.0])) == pytest.approx(-math.pi / 4)
    assert normalize_radians(3 * math.pi) == pytest.approx(-math.pi)


@pytest.mark.parametrize("rotation", [0.0, 0.3, -1.2, 2.5])
def test_crop_round_trip(rotation):
    roi = Roi(300.0, 200.0, 120.0, 120.0, rotation)
    transform = crop_transform(roi, 192)
    crop_points = np.array([[0, 0], [192, 0], [96, 96], [10, 150]], dtype=np.float64)
    image_points = crop_to_image(crop_points, transform)
    back = image_points @ transform[:, :2].T + transform[:, 2]
    assert_allclose(back, crop_points, atol=PIXEL_TOLERANCE)
    assert_allclose(image_points[2], [300, 200], atol=PIXEL_TOLERANCE)  # crop centre = ROI centre
    assert_allclose(image_points[0], roi.corners()[0], atol=PIXEL_TOLERANCE)


def test_crop_is_upright_for_a_rotated_face():
    image = np.zeros((400, 400, 3), np.uint8)
    roi = Roi(200.0, 200.0, 100.0, 100.0, math.radians(30))
    image[195:205, 150:250] = 255  # a horizontal bar through the centre
    patch, _ = crop(image, roi, 64)
    rows = patch[:, :, 0].sum(axis=1)
    # rotating the crop by 30 degrees makes the horizontal bar a tilted one: it spreads over rows
    assert np.count_nonzero(rows) > 10


def test_roi_from_detection_is_square_and_enlarged():
    box = np.array([100, 100, 180, 200], np.float32)
    keypoints = np.array([[120, 140], [160, 140], [140, 160], [140, 180], [100, 150], [180, 150]], np.float32)
    roi = roi_from_detection(box, keypoints)
    assert roi.width == roi.height == pytest.approx(100 * FACE_ROI_SCALE)
    assert (roi.center_x, roi.center_y) == pytest.approx((140, 150))
    assert roi.rotation == pytest.approx(0.0)


def test_roi_from_landmarks_follows_the_head_roll():
    rng = np.random.default_rng(0)
    vertices = np.zeros((468, 3), np.float32)
    vertices[:, :2] = rng.uniform(100, 200, (468, 2))
    vertices[33, :2] = [110, 150]
    vertices[263, :2] = [190, 130]  # eye line rising to the right
    roi = roi_from_landmarks(vertices)
    assert roi.rotation == pytest.approx(-math.atan2(20, 80))


def test_iou():
    a = np.array([0, 0, 10, 10.0])
    assert iou(a, a) == pytest.approx(1.0)
    assert iou(a, np.array([5, 0, 15, 10.0])) == pytest.approx(1 / 3)
    assert iou(a, np.array([20, 20, 30, 30.0])) == 0.0


def test_crop_equals_warping_the_whole_image():
    # crop() warps a copy of the ROI's bounding box (faster on frames not in cache); the
    # pixels must be those of warping the whole frame, for any pose, scale and position,
    # including ROIs that hang over the image's edges or lie outside it.
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    rois = [Roi(rng.uniform(-50, 690), rng.uniform(-50, 410), side, side, rng.uniform(-np.pi, np.pi))
            for side in rng.uniform(10, 900, 60)] + [Roi(-500, -500, 50, 50, 0.3)]
    for roi in rois:
        for size in (64, 192):
            patch, transform = crop(image, roi, size)
            whole = cv2.warpAffine(image, crop_transform(roi, size), (size, size), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
            np.testing.assert_array_equal(patch, whole, err_msg=str(roi))
            np.testing.assert_array_equal(transform, crop_transform(roi, size))


def test_crop_to_frame_inverts_the_crop_map_and_mirrors_columns():
    # The crop graphs sample the frame through crop_to_frame: unmirrored it undoes
    # crop_transform; mirrored, crop column u lands where column size - 1 - u does.
    roi, size = Roi(150.0, 110.0, 90.0, 90.0, 0.3), 64
    u, v = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    crop_px = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    plain, mirrored = crop_to_frame(roi, size), crop_to_frame(roi, size, mirrored=True)
    assert_allclose(crop_px[:, :2] @ plain[:, :2].T + plain[:, 2], crop_to_image(crop_px[:, :2], crop_transform(roi, size)),
                    atol=PIXEL_TOLERANCE)
    flipped = crop_px.copy()
    flipped[:, 0] = size - 1 - flipped[:, 0]
    assert_allclose(crop_px @ mirrored.T, flipped @ plain.T, atol=PIXEL_TOLERANCE)


def test_face_axis_rotation_turns_eyes_to_mouth_straight_down():
    from realtime.stages.roi import face_axis_rotation

    upright = np.array([[120, 140], [160, 140], [140, 160], [140, 180], [100, 150], [180, 150]], np.float64)
    assert face_axis_rotation(upright) == pytest.approx(0.0, abs=1e-9)
    # A profile: the two eye keypoints nearly meet, one above the other; the eye line says 90 deg
    # of roll, the eyes-to-mouth axis says upright.
    profile = np.array([[150, 140], [151, 130], [165, 160], [150, 180], [120, 150], [160, 150]], np.float64)
    assert abs(eye_line_rotation(profile[0], profile[1])) > math.radians(60)
    assert abs(face_axis_rotation(profile)) < math.radians(15)
    # A face lying on its side (rotated 90 deg clockwise in the image): mouth to the left.
    rotated = np.array([[160, 120], [160, 160], [140, 140], [120, 140], [150, 100], [150, 180]], np.float64)
    assert face_axis_rotation(rotated) == pytest.approx(eye_line_rotation(rotated[0], rotated[1]), abs=1e-9)


def test_detection_rois_try_mediapipes_crop_first():
    from realtime.stages.roi import ENLARGED_ROI_SCALE, detection_rois

    box = np.array([100, 100, 180, 200], np.float32)
    keypoints = np.array([[120, 140], [160, 140], [140, 160], [140, 180], [100, 150], [180, 150]], np.float32)
    rois = dict(detection_rois(box, keypoints))
    assert list(rois) == ["detection", "face_axis", "enlarged"]
    assert rois["detection"] == roi_from_detection(box, keypoints)
    assert rois["enlarged"].width == pytest.approx(100 * ENLARGED_ROI_SCALE)


def test_roi_from_landmarks_face_axis_levels_forehead_to_chin():
    vertices = np.zeros((468, 3), np.float32)
    vertices[:, :2] = [150, 150]
    vertices[10, :2], vertices[152, :2] = [100, 150], [200, 150]  # forehead left, chin right: lying down
    vertices[33, :2], vertices[263, :2] = [150, 150], [151, 140]  # eye corners nearly meet (a profile)
    roi = roi_from_landmarks(vertices, face_axis=True)
    assert roi.rotation == pytest.approx(eye_line_rotation(vertices[10, :2], vertices[152, :2], -math.pi / 2))
    assert abs(abs(roi.rotation) - math.pi / 2) < 1e-6
