import numpy as np
import pytest

from realtime.stages.detection import FaceDetector, decode_detections, ssd_anchors, weighted_nms
from realtime.stages.tracking import Tracker, TrackerOptions


def test_anchor_layout_matches_blazeface_short_range():
    anchors = ssd_anchors()
    assert anchors.shape == (896, 2)
    # first feature map: 16x16 cells, 2 anchors each, centred in the cells
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[512], [0.5 / 8, 0.5 / 8])


def test_decode_and_weighted_nms_merge_overlapping_boxes():
    regressors = np.zeros((896, 16), np.float32)
    logits = np.full(896, -10.0, np.float32)
    regressors[[0, 1], 2:4] = 20.0  # 20-pixel boxes at the first anchor position
    regressors[1, 0] = 2.0  # the second one shifted by 2 px
    logits[[0, 1]] = [3.0, 1.0]
    boxes, keypoints, scores = decode_detections(regressors, logits, 0.5)
    assert len(boxes) == 2
    merged = weighted_nms(boxes, keypoints, scores, 0.3)
    assert len(merged) == 1
    box, _, score = merged[0]
    # weighted towards the higher score
    weight = scores[1] / scores.sum()
    assert box[0] * 128 == pytest.approx((0.5 / 16) * 128 - 10 + 2 * weight, abs=1e-3)
    assert score == pytest.approx(scores[0])


def test_detector_finds_the_astronaut(astronaut):
    detections = FaceDetector().detect(astronaut).detections
    assert len(detections) == 1
    x0, y0, x1, y1 = detections[0].box_px
    assert 170 < (x0 + x1) / 2 < 280 and 70 < (y0 + y1) / 2 < 180
    left_eye, right_eye = detections[0].keypoints_px[:2]
    assert left_eye[0] < right_eye[0]  # keypoint 0 is the image-left eye


def test_detector_finds_nothing_in_a_blank_image():
    assert FaceDetector().detect(np.full((240, 320, 3), 128, np.uint8)).detections == []


def _two_faces(astronaut):
    """A 416x256 canvas: the astronaut's head at full size on the left, at 60% on the right."""
    import cv2

    head = astronaut[0:256, 100:356]
    canvas = np.full((256, 416, 3), 200, np.uint8)
    canvas[:, :256] = head
    canvas[48:48 + 154, 260:260 + 154] = cv2.resize(head, (154, 154))
    return canvas


def test_tiles_find_small_faces_the_whole_image_pass_misses(astronaut):
    wide = np.full((512, 2048, 3), 200, np.uint8)
    wide[:, 1400:1912] = astronaut  # the face is ~5% of the long side
    assert FaceDetector().detect(wide).detections == []
    from realtime.stages.detection import DetectionOptions

    found = FaceDetector(DetectionOptions(tile_fractions=(1.0,))).detect(wide).detections
    assert len(found) == 1
    assert 1400 + 170 < (found[0].box_px[0] + found[0].box_px[2]) / 2 < 1400 + 280


def test_largest_face_is_tracked_by_default(astronaut):
    tracker = Tracker()
    rois = tracker.update(_two_faces(astronaut)).rois
    assert len(rois) == 1 and rois[0].center_x < 256


def test_max_faces_tracks_more(astronaut):
    tracker = Tracker(TrackerOptions(max_faces=2))
    rois = tracker.update(_two_faces(astronaut)).rois
    assert len(rois) == 2
    assert rois[0].width > rois[1].width


def test_track_is_dropped_when_presence_falls(astronaut):
    tracker = Tracker()
    result = tracker.update(astronaut)
    assert result.detection_ran
    fake_mesh = np.zeros((468, 3), np.float32)
    fake_mesh[:, :2] = np.random.default_rng(1).uniform(150, 250, (468, 2))
    tracker.observe([fake_mesh], [0.9])
    assert tracker.tracking and not tracker.update(astronaut).detection_ran
    tracker.observe([fake_mesh], [0.1])
    assert not tracker.tracking
    assert tracker.update(astronaut).detection_ran


def _small_face_frame(astronaut, face_px=50):
    """A 640x480 frame with the astronaut's head scaled so her face is about ``face_px`` wide
    (it is ~94 px in the 512 photo), placed off-centre."""
    import cv2

    head = astronaut[0:256, 100:356]
    scale = face_px / 94.0
    small = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 180, np.uint8)
    frame[200:200 + small.shape[0], 400:400 + small.shape[1]] = small
    return frame


def test_small_faces_are_found_by_the_periodic_tiled_search(astronaut):
    frame = _small_face_frame(astronaut)
    plain = Tracker(TrackerOptions(small_face_tiles=()))
    assert all(not plain.update(frame).rois for _ in range(6))
    tracker = Tracker(TrackerOptions(small_face_interval=5))
    found = [bool(tracker.update(frame).rois) for _ in range(1)]
    assert found == [True]  # the first search of a new run includes the tiles


def test_a_small_face_is_tracked_through_the_pipeline(astronaut):
    from realtime.stages.capture import Frame
    from realtime.stages.pipeline import Pipeline, PipelineOptions

    frame = _small_face_frame(astronaut, face_px=45)
    with Pipeline(PipelineOptions(fusion=False)) as pipeline:
        results = [pipeline.process(Frame(frame, i, i / 30.0)) for i in range(6)]
    assert all(result.faces for result in results)
    assert sum(result.detection_ran for result in results) == 1  # found once, then tracked
    nose = results[-1].faces[0].vertices[1]
    assert 400 < nose[0] < 400 + 256 * 45 / 94 and 200 < nose[1] < 200 + 256 * 45 / 94
