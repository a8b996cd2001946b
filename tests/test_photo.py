"""Photo mode: faces from single images, the refine and mirrored passes, metric figures."""

import cv2
import numpy as np
import pytest

from realtime.photo import PhotoOptions, PhotoReconstructor, mirror_roi
from realtime.topology import median_distance_iod
from realtime.roi import Roi

# The astronaut is an adult woman: her PD is in the adult range (54-74 mm) and her face width
# at the tragus level in the adult range too.
PD_RANGE_MM = (54.0, 74.0)
FACE_WIDTH_RANGE_MM = (120.0, 170.0)
# A mirrored image must give back the same face to within 2% of the inter-ocular distance.
MIRROR_TOLERANCE_IOD = 0.02


@pytest.fixture(scope="module")
def reconstructor():
    with PhotoReconstructor(PhotoOptions(all_faces=True)) as reconstructor:
        yield reconstructor


def test_one_face_with_report_fields(reconstructor, astronaut):
    result = reconstructor.run(astronaut)
    assert len(result.faces) == 1 and result.image_size == (512, 512)
    face = result.faces[0]
    assert face.vertices_px.shape == (468, 3) and face.landmarks68_px.shape == (68, 2)
    assert face.iris_px.shape == (2, 5, 3) and face.scale_source == "iris and face proportions"
    assert PD_RANGE_MM[0] < face.pd_mm < PD_RANGE_MM[1]
    assert FACE_WIDTH_RANGE_MM[0] < face.face_width_mm < FACE_WIDTH_RANGE_MM[1]
    x0, y0, x1, y1 = face.box_px
    assert x0 < face.vertices_px[1, 0] < x1 and y0 < face.vertices_px[1, 1] < y1  # nose tip in the box
    report = face.report()
    assert len(report["landmarks68"]) == 68 and len(report["vertices"]) == 468


def test_each_step_reports_what_it_changed(reconstructor, astronaut):
    steps = reconstructor.run(astronaut).faces[0].steps
    assert 0 < steps["refine_shift_iod"] < 0.1
    assert 0 <= steps["flip_gap_iod"] < 0.05
    assert steps["flip_averaged"] == 1.0
    # averaging moves the mesh half the way to the mirrored answer
    assert steps["flip_shift_iod"] == pytest.approx(steps["flip_gap_iod"] / 2, rel=0.35)


def test_mirrored_photo_gives_the_mirrored_face(reconstructor, astronaut):
    from realtime.symmetry import mirror_vertices

    direct = reconstructor.run(astronaut).faces[0].vertices_px
    mirrored = reconstructor.run(np.ascontiguousarray(astronaut[:, ::-1])).faces[0].vertices_px
    assert median_distance_iod(mirror_vertices(mirrored, 512), direct) < MIRROR_TOLERANCE_IOD


def test_mirror_roi_round_trip():
    roi = Roi(100.0, 50.0, 80.0, 80.0, 0.3)
    assert mirror_roi(mirror_roi(roi, 640), 640) == roi
    assert mirror_roi(roi, 640).center_x == 540.0 and mirror_roi(roi, 640).rotation == -0.3


def test_all_faces_finds_both_and_largest_first(reconstructor, astronaut):
    head = astronaut[0:256, 100:356]
    canvas = np.full((256, 416, 3), 200, np.uint8)
    canvas[:, :256] = head
    canvas[48:48 + 154, 260:260 + 154] = cv2.resize(head, (154, 154))
    faces = reconstructor.run(canvas).faces
    assert len(faces) == 2
    assert faces[0].vertices_px[:, 0].mean() < 256 < faces[1].vertices_px[:, 0].mean()
    with PhotoReconstructor(PhotoOptions(all_faces=False)) as largest_only:
        assert len(largest_only.run(canvas).faces) == 1


def test_no_face_is_an_empty_result(reconstructor):
    noise = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    assert reconstructor.run(noise).faces == []


def test_metric_mesh_is_centred_millimetres(reconstructor, astronaut):
    face = reconstructor.run(astronaut).faces[0]
    mm = face.vertices_mm
    np.testing.assert_allclose(mm.mean(axis=0), 0.0, atol=1e-3)
    eye_span_mm = np.linalg.norm(mm[33] - mm[263])
    assert 80 < eye_span_mm < 110  # outer canthal distance of an adult


def test_report_carries_a_scale_warning_only_when_the_pd_is_implausible(astronaut):
    from realtime.photo import PhotoReconstructor

    with PhotoReconstructor() as photo:
        face = photo.run(astronaut).faces[0]
    assert face.report()["scale_warning"] is None  # PD ~62 mm: plausible
    import dataclasses

    assert "outside the adult range" in dataclasses.replace(face, pd_mm=82.0).report()["scale_warning"]
