"""Reconstruction: the mesh network through ONNX Runtime, crops in and vertices back out."""

import math

import cv2
import numpy as np
import pytest
from numpy.testing import assert_allclose

from realtime.stages.detection import FaceDetector
from realtime.stages.reconstruction import (MESH_INPUT_SIZE, ReconstructionOptions, Reconstructor, eye_rois,
                                     mesh_to_image)
from realtime.stages.roi import Roi, crop_transform, roi_from_detection, roi_from_landmarks
from realtime.geometry import inter_ocular_distance

# Vertices found in a rotated copy of a photo, rotated back, land within this fraction of the
# inter-ocular distance of the upright photo's: the crop follows the eye line, so the network
# sees nearly the same upright face either way.
ROTATION_TOLERANCE_IOD = 0.03
PIXEL_TOLERANCE = 1e-3
# Crops cut by the crop graphs (GridSample) against OpenCV's: vertex and iris shifts, pixels.
DEVICE_CROP_MEDIAN_PX = 0.05
DEVICE_CROP_MAX_IRIS_PX = 0.2


@pytest.fixture(scope="module")
def reconstructor():
    with Reconstructor(ReconstructionOptions(iris_interval=1)) as reconstructor:
        yield reconstructor


@pytest.fixture(scope="module")
def astronaut_roi(astronaut):
    detection = FaceDetector().detect(astronaut).detections[0]
    return roi_from_detection(detection.box_px, detection.keypoints_px)


def test_mesh_to_image_inverts_the_crop():
    roi = Roi(300.0, 200.0, 150.0, 150.0, 0.4)
    transform = crop_transform(roi, MESH_INPUT_SIZE)
    crop_points = np.array([[96.0, 96.0, 10.0], [0.0, 0.0, -5.0], [192.0, 192.0, 0.0]])
    image_points = mesh_to_image(crop_points.reshape(-1), transform, roi)
    assert_allclose(image_points[0, :2], [300, 200], atol=PIXEL_TOLERANCE)
    assert_allclose(image_points[1, :2], roi.corners()[0], atol=PIXEL_TOLERANCE)
    assert image_points[0, 2] == pytest.approx(10.0 * 150.0 / 192.0)  # z scaled like x


def test_face_in_the_roi_is_present_and_inside(reconstructor, astronaut, astronaut_roi):
    [face] = reconstructor.run(astronaut, [astronaut_roi]).faces
    assert face.vertices.shape == (468, 3) and face.vertices.dtype == np.float32
    assert face.presence > 0.9
    corners = astronaut_roi.corners()
    assert np.all(face.vertices[:, :2] > corners.min(axis=0)) and np.all(face.vertices[:, :2] < corners.max(axis=0))
    assert face.vertices[33, 0] < face.vertices[263, 0]  # 33 is the image-left eye


def test_empty_roi_has_low_presence(reconstructor):
    blank = np.full((300, 300, 3), 120, np.uint8)
    [face] = reconstructor.run(blank, [Roi(150.0, 150.0, 200.0, 200.0, 0.0)]).faces
    assert face.presence < 0.5


def test_rotated_photo_gives_the_rotated_mesh(reconstructor, astronaut, astronaut_roi):
    [upright] = reconstructor.run(astronaut, [astronaut_roi]).faces
    refined = roi_from_landmarks(upright.vertices)
    [upright] = reconstructor.run(astronaut, [refined]).faces
    angle = 30.0
    centre = (256.0, 256.0)
    rotation = cv2.getRotationMatrix2D(centre, angle, 1.0)
    rotated_image = cv2.warpAffine(astronaut, rotation, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    moved = upright.vertices[:, :2] @ rotation[:, :2].T + rotation[:, 2]
    roi = roi_from_landmarks(np.column_stack([moved, upright.vertices[:, 2]]))
    # OpenCV's positive angle turns the picture counter-clockwise on screen, which raises the
    # eye line to the right: MediaPipe's rotation for that is negative.
    assert roi.rotation == pytest.approx(refined.rotation - math.radians(angle), abs=math.radians(3))
    [turned] = reconstructor.run(rotated_image, [roi]).faces
    error = np.median(np.linalg.norm(turned.vertices[:, :2] - moved, axis=1)) / inter_ocular_distance(upright.vertices)
    assert error < ROTATION_TOLERANCE_IOD


def test_eye_crops_sit_on_the_eyes(reconstructor, astronaut, astronaut_roi):
    [face] = reconstructor.run(astronaut, [astronaut_roi]).faces
    left, right = eye_rois(face.vertices)
    assert left.center_x < right.center_x
    for roi, (a, b) in zip((left, right), ((33, 133), (362, 263))):
        eye_width = np.linalg.norm(face.vertices[a, :2] - face.vertices[b, :2])
        assert roi.width == pytest.approx(2.3 * eye_width, rel=0.05)
    assert face.iris is not None
    for eye, roi in enumerate((left, right)):
        assert np.linalg.norm(face.iris[eye, 0, :2] - [roi.center_x, roi.center_y]) < roi.width / 4


def test_iris_interval_skips_frames(astronaut, astronaut_roi):
    with Reconstructor(ReconstructionOptions(iris_interval=3, iris_warmup_frames=0)) as reconstructor:
        pattern = [reconstructor.run(astronaut, [astronaut_roi]).faces[0].iris is not None for _ in range(7)]
    assert pattern == [True, False, False, True, False, False, True]


def test_iris_warm_up_restarts_on_a_new_track(astronaut, astronaut_roi):
    with Reconstructor(ReconstructionOptions(iris_interval=10, iris_warmup_frames=2)) as reconstructor:
        run = lambda new: reconstructor.run(astronaut, [astronaut_roi], new_track=new).faces[0].iris is not None
        pattern = [run(True), run(False), run(False), run(False), run(True), run(False)]
    assert pattern == [True, True, False, False, True, True]


def test_iris_off(astronaut, astronaut_roi):
    with Reconstructor(ReconstructionOptions(iris=False)) as reconstructor:
        assert reconstructor.run(astronaut, [astronaut_roi]).faces[0].iris is None
        assert reconstructor.iris_session is None


def test_faces_in_one_batched_call_match_one_call_each(astronaut):
    import dataclasses

    mirrored = cv2.flip(astronaut, 1)
    two_faces = np.ascontiguousarray(np.hstack([astronaut, mirrored]))
    rois = []
    for offset, half in ((0, astronaut), (astronaut.shape[1], mirrored)):
        detection = FaceDetector().detect(half).detections[0]
        roi = roi_from_detection(detection.box_px, detection.keypoints_px)
        rois.append(dataclasses.replace(roi, center_x=roi.center_x + offset))
    results, call_batches = {}, {}
    for batch in (1, 4):
        with Reconstructor(ReconstructionOptions(iris_interval=1, mesh_batch=batch)) as reconstructor:
            session = reconstructor.mesh_session
            call_batches[batch] = calls = []
            plain_run = session.run
            session.run = lambda feeds: calls.append(len(feeds["image"])) or plain_run(feeds)
            results[batch] = reconstructor.run(two_faces, rois).faces
    assert call_batches == {1: [1, 1], 4: [2]}
    for single, batched in zip(results[1], results[4]):
        assert_allclose(batched.vertices, single.vertices, atol=PIXEL_TOLERANCE)
        assert_allclose(batched.iris, single.iris, atol=PIXEL_TOLERANCE)
        assert batched.presence == pytest.approx(single.presence, abs=1e-6)
    # Each face's mesh is its own: the mirrored copy sits in the right half.
    assert results[4][0].vertices[:, 0].mean() < astronaut.shape[1] < results[4][1].vertices[:, 0].mean()


def test_both_eyes_in_one_call_match_a_call_per_eye(reconstructor, astronaut, astronaut_roi):
    from realtime.stages.roi import crop, crop_to_image

    [face] = reconstructor.run(astronaut, [astronaut_roi]).faces
    for eye, roi in enumerate(eye_rois(face.vertices)):
        patch, transform = crop(astronaut, roi, 64)
        mirrored = eye == 1  # the network knows one eye side; the other is flipped in and out
        patch = np.ascontiguousarray(patch[:, ::-1] if mirrored else patch)
        points = reconstructor.iris_session.run({"image": patch[None]})["iris"].reshape(5, 3)
        if mirrored:
            points[:, 0] = 64 - points[:, 0]
        assert_allclose(face.iris[eye, :, :2], crop_to_image(points[:, :2], transform), atol=PIXEL_TOLERANCE)


def test_crops_cut_on_the_device_give_the_same_meshes(astronaut, astronaut_roi):
    # The device path (crop graphs + IO binding) runs on the CPU provider here; on a GPU the
    # same code keeps the crops on the GPU. Its crops match OpenCV's within a few grey levels
    # at edges (OpenCV rounds its bilinear weights), which moves the mesh a few hundredths of
    # a pixel.
    results = {}
    for device_crop in (False, True):
        with Reconstructor(ReconstructionOptions(iris_interval=1, device_crop=device_crop)) as reconstructor:
            results[device_crop] = reconstructor.run(astronaut, [astronaut_roi, astronaut_roi]).faces
    for host, device in zip(results[False], results[True]):
        assert np.median(np.linalg.norm(device.vertices - host.vertices, axis=1)) < DEVICE_CROP_MEDIAN_PX
        assert np.max(np.linalg.norm(device.iris - host.iris, axis=2)) < DEVICE_CROP_MAX_IRIS_PX
