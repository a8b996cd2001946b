"""The pipeline end to end on the built-in demo clip, against MediaPipe's own FaceMesh."""

import numpy as np
import pytest

from realtime.tools.bench import MediaPipeBaseline
from realtime.geometry import inter_ocular_distance, median_distance_iod
from realtime.stages.capture import Capture, CaptureOptions
from realtime.stages.pipeline import Pipeline, PipelineOptions

import cv2

# The bar: our vertices within 1.5% of the inter-ocular distance of MediaPipe's (median).
MAX_MEDIAN_ERROR_IOD = 0.015
MIN_TRACKED_FRACTION = 0.98


@pytest.fixture(scope="module")
def demo_run():
    """Every frame of the demo clip through our pipeline and MediaPipe's, side by side."""
    ours, theirs, detections, timings = [], [], [], []
    baseline = MediaPipeBaseline()
    with Capture(CaptureOptions()) as capture, Pipeline(PipelineOptions(fusion=False)) as pipeline:
        for frame in capture:
            result = pipeline.process(frame)
            ours.append(result.faces[0] if result.faces else None)
            detections.append(result.detection_ran)
            timings.append(result.timings_ms)
            theirs.append(baseline.process_rgb(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)))
    baseline.close()
    return ours, theirs, detections, timings


def test_face_is_tracked_in_almost_every_frame(demo_run):
    ours, _, _, _ = demo_run
    tracked = np.mean([face is not None for face in ours])
    assert tracked >= MIN_TRACKED_FRACTION


def test_detection_runs_only_to_acquire(demo_run):
    _, _, detections, _ = demo_run
    assert detections[0] is True
    assert sum(detections) <= 3  # tracking from the previous mesh carries the rest


def test_vertices_agree_with_mediapipe(demo_run):
    ours, theirs, _, _ = demo_run
    errors = [median_distance_iod(a.vertices, b) for a, b in zip(ours, theirs) if a is not None and b is not None]
    assert len(errors) >= 0.95 * len(ours)
    assert np.median(errors) <= MAX_MEDIAN_ERROR_IOD


def test_z_is_in_pixel_scale_like_mediapipe(demo_run):
    ours, theirs, _, _ = demo_run
    a, b = ours[100], theirs[100]
    iod = inter_ocular_distance(b)
    assert np.median(np.abs(a.vertices[:, 2] - b[:, 2])) < 0.03 * iod
    assert np.ptp(a.vertices[:, 2]) > 0.3 * iod  # real depth, not flat


def test_irises_sit_inside_the_eyes(demo_run):
    ours, _, _, _ = demo_run
    face = next(f for f in ours[45:] if f is not None and f.iris is not None)
    assert face.iris.shape == (2, 5, 3)
    for eye, (outer, inner) in enumerate([(33, 133), (362, 263)]):
        lo = np.minimum(face.vertices[outer, :2], face.vertices[inner, :2])
        hi = np.maximum(face.vertices[outer, :2], face.vertices[inner, :2])
        centre = face.iris[eye, 0, :2]
        assert lo[0] < centre[0] < hi[0]
        diameter = 2 * np.mean(np.linalg.norm(face.iris[eye, 1:, :2] - centre, axis=1))
        eye_width = np.linalg.norm(face.vertices[outer, :2] - face.vertices[inner, :2])
        assert 0.25 < diameter / eye_width < 0.7  # an iris is ~40% of the eye's width


def test_iris_runs_every_frame_while_warming_up_then_every_nth(demo_run):
    ours, _, _, _ = demo_run
    with_iris = [i for i, face in enumerate(ours) if face is not None and face.iris is not None]
    options = PipelineOptions().reconstruction
    warmup, interval = options.iris_warmup_frames, options.iris_interval
    assert with_iris[:warmup] == list(range(warmup))
    later = with_iris[warmup:warmup + 3]
    assert np.diff(later).tolist() == [interval, interval]


def test_timings_cover_each_stage(demo_run):
    _, _, _, timings = demo_run
    for name in ("track", "reconstruct", "mesh", "total"):
        assert all(t[name] >= 0 for t in timings)
    assert np.median([t["total"] for t in timings]) > 0


def test_no_face_gives_an_empty_result():
    from realtime.stages.capture import Frame

    with Pipeline(PipelineOptions(fusion=False)) as pipeline:
        result = pipeline.process(Frame(np.full((480, 640, 3), 90, np.uint8), 0, 0.0))
    assert result.faces == [] and not result.tracked
