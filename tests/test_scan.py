"""Tests for realtime/stages/scan.py: per-frame ray bounds and the hull of a sphere seen turning."""

import math

import numpy as np
import pytest

from realtime.camera import CameraIntrinsics
from realtime.stages.scan import HeadScan, ray_bounds
from realtime.stages.segmentation import PersonMask

RADIUS_MM = 90.0
DISTANCE_MM = 600.0
SIZE = 256
HULL_TOLERANCE_MM = 2.0  # ~ one pixel of outline at this distance (fx 222 px: 0.37 px/mm)
POSE_TOLERANCE = 1e-4  # rotation matrix entries: exact pixels leave only the solver's rounding
POSE_TOLERANCE_MM = 0.05
ALIGN_TOLERANCE_DEG = 1e-6  # the search's grid holds the true turn exactly


def _camera():
    return CameraIntrinsics.default(SIZE, SIZE)


def _sphere_mask(intrinsics, centre_cam):
    """The outline of a sphere of RADIUS_MM at ``centre_cam`` (pinhole, exact cone tangency)."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    rays = np.stack([(xs - intrinsics.cx) / intrinsics.fx, (ys - intrinsics.cy) / intrinsics.fy, np.ones_like(xs)], -1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    along = rays @ centre_cam
    miss = np.linalg.norm(centre_cam) ** 2 - along**2
    return (miss <= RADIUS_MM**2).astype(np.float32)


def test_ray_bounds_of_a_sphere_are_its_radius_for_edge_on_rays():
    intrinsics = _camera()
    centre = np.array([20.0, -10.0, DISTANCE_MM])
    mask = _sphere_mask(intrinsics, centre)
    from realtime.printing.silhouette import polar_extent

    px = np.array([intrinsics.fx * centre[0] / centre[2] + intrinsics.cx, intrinsics.fy * centre[1] / centre[2] + intrinsics.cy])
    angles = np.linspace(-np.pi, np.pi, 360, endpoint=False)
    extent = polar_extent(mask > 0.5, px, angles, last=False, beyond=True)
    view = centre / np.linalg.norm(centre)
    # Directions across the view (the sphere's rim) reach exactly the sphere seen from its centre.
    side = np.cross(view, [0.0, 1.0, 0.0])
    side /= np.linalg.norm(side)
    up = np.cross(side, view)
    directions = np.array([side, -side, up, -up])
    bounds = ray_bounds(centre, directions, intrinsics.fx, intrinsics.fy, extent, angles, 1.0)
    # A cone's tangent point lies slightly behind the centre's plane: the rim ray from the centre
    # leaves the cone a little further out than the radius (by the perspective, ~ R^2 / (2 d^2)).
    np.testing.assert_allclose(bounds, RADIUS_MM, rtol=0.03)
    assert np.isinf(ray_bounds(centre, view[None], intrinsics.fx, intrinsics.fy, extent, angles, 1.0)[0])


def _yaw(degrees):
    """A face turned ``degrees`` from looking at the camera (canonical -> OpenCV camera axes)."""
    a = math.radians(degrees)
    turn = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    return turn @ np.diag([1.0, -1.0, -1.0])


def test_a_turning_sphere_is_scanned_all_round_to_its_radius():
    from realtime.stages.scan import ScanOptions

    intrinsics = _camera()
    scan = HeadScan(ScanOptions(max_turn_deg=90.0))  # an exact pose: every turn may carve
    scan.start(np.zeros(3))
    translation = np.array([0.0, 0.0, DISTANCE_MM])
    crop = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # the crop is the image
    vertices = np.zeros((468, 3))
    vertices[:, :2] = [intrinsics.cx, intrinsics.cy]
    for yaw in np.linspace(-90, 90, 31):
        rotation = _yaw(yaw)
        mask = PersonMask(_sphere_mask(intrinsics, translation), np.ones((SIZE, SIZE), bool), crop)
        scan.update(mask, vertices, rotation, translation, intrinsics, None)
    result = scan.result()
    horizontal = np.abs(result.directions[:, 1]) < 0.3
    assert result.seen[horizontal].all()
    np.testing.assert_allclose(result.radius_mm[horizontal], RADIUS_MM, rtol=0.03, atol=HULL_TOLERANCE_MM)
    assert result.coverage > 0.9 and result.ready


def test_a_frontal_view_alone_leaves_the_back_unseen():
    intrinsics = _camera()
    scan = HeadScan()
    scan.start(np.zeros(3))
    translation = np.array([0.0, 0.0, DISTANCE_MM])
    crop = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    vertices = np.zeros((468, 3))
    vertices[:, :2] = [intrinsics.cx, intrinsics.cy]
    mask = PersonMask(_sphere_mask(intrinsics, translation), np.ones((SIZE, SIZE), bool), crop)
    for _ in range(3):
        scan.update(mask, vertices, _yaw(0.0), translation, intrinsics, None)
    result = scan.result()
    towards_camera = np.abs(result.directions[:, 2]) > 0.9
    assert not result.seen[towards_camera].any()
    assert not result.ready
    # How edge on the frames saw each direction: |direction . view|, the view along canonical z.
    np.testing.assert_allclose(result.slant[result.seen], np.abs(result.directions[result.seen, 2]), atol=0.02)
    assert (result.slant[~result.seen] == 1.0).all()  # three frames: every direction taken is seen


@pytest.mark.parametrize("every", [1, 3])
def test_due_scans_one_frame_in_n(every):
    from realtime.stages.scan import ScanOptions

    scan = HeadScan(ScanOptions(every_n_frames=every))
    assert sum(scan.due(i) for i in range(30)) == 30 // every


def test_frames_turned_past_the_limit_do_not_carve():
    from realtime.stages.scan import ScanOptions

    intrinsics = _camera()
    scan = HeadScan(ScanOptions(max_turn_deg=30.0))
    scan.start(np.zeros(3))
    translation = np.array([0.0, 0.0, DISTANCE_MM])
    crop = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    vertices = np.zeros((468, 3))
    vertices[:, :2] = [intrinsics.cx, intrinsics.cy]
    mask = PersonMask(_sphere_mask(intrinsics, translation), np.ones((SIZE, SIZE), bool), crop)
    scan.update(mask, vertices, _yaw(60.0), translation, intrinsics, None)
    assert scan.frames == 0
    scan.update(mask, vertices, _yaw(20.0), translation, intrinsics, None)
    assert scan.frames == 1


def test_landmark_pose_recovers_a_turn_the_start_reads_short():
    """Project a head-like point set at a known pose; starting 8 deg short of the turn and 20 mm
    off in depth, the refinement lands on the pose (a round trip: pose -> pixels -> pose)."""
    from realtime.stages.scan import landmark_pose

    rng = np.random.default_rng(3)
    identity = rng.normal(0.0, 1.0, (468, 3)) * [70.0, 90.0, 40.0]  # mm, a face's spread
    intrinsics = _camera()
    rotation = _yaw(50.0)
    translation = np.array([10.0, -5.0, DISTANCE_MM])
    camera = identity @ rotation.T + translation
    pixels = np.column_stack([intrinsics.fx * camera[:, 0] / camera[:, 2] + intrinsics.cx,
                              intrinsics.fy * camera[:, 1] / camera[:, 2] + intrinsics.cy])
    refined, moved = landmark_pose(identity, pixels, intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy,
                                   _yaw(42.0), translation + [0.0, 0.0, 20.0])
    np.testing.assert_allclose(refined, rotation, atol=POSE_TOLERANCE)
    np.testing.assert_allclose(moved, translation, atol=POSE_TOLERANCE_MM)


def test_a_one_sided_turn_covers_one_side_and_asks_for_the_other():
    """A face turned to the person's right (positive yaw) shows the left of the head: the left
    half's coverage leads and the hint asks for a turn to the left; both sides seen, both ways."""
    from realtime.stages.scan import FACE_CONE, HEAD_MIN_ELEVATION, ScanOptions, turn_hint

    intrinsics = _camera()
    scan = HeadScan(ScanOptions(max_turn_deg=90.0))
    # The head's directions as the scan counts them: above the eyes, away from the face (with the
    # whole sphere every view's edge-on circle would cover both sides alike).
    directions = scan.directions
    scan.start(np.zeros(3), (directions[:, 1] > HEAD_MIN_ELEVATION) & (directions[:, 2] < FACE_CONE))
    translation = np.array([0.0, 0.0, DISTANCE_MM])
    crop = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    vertices = np.zeros((468, 3))
    vertices[:, :2] = [intrinsics.cx, intrinsics.cy]
    mask = PersonMask(_sphere_mask(intrinsics, translation), np.ones((SIZE, SIZE), bool), crop)
    for yaw in np.linspace(30, 90, 7):
        scan.update(mask, vertices, _yaw(yaw), translation, intrinsics, None)
    one_side = scan.result()
    assert one_side.coverage_left > one_side.coverage_right
    assert turn_hint(one_side.coverage_left, one_side.coverage_right) == "left"
    for yaw in np.linspace(-90, -30, 7):
        scan.update(mask, vertices, _yaw(yaw), translation, intrinsics, None)
    both = scan.result()
    assert turn_hint(both.coverage_left, both.coverage_right) == "left and right"
    assert turn_hint(0.2, 0.6) == "right"


def test_consistent_turn_finds_the_turn_and_distance_that_match_the_reference():
    """An elongated head (an ellipsoid, longer front to back) whose frame reads its turn 7 deg
    short and its distance 3% short: the search finds both."""
    from realtime.stages.scan import consistent_turn, sphere_directions, yaw_rotation

    directions = sphere_directions(3)
    axes = np.array([75.0, 95.0, 100.0])  # mm: half width, half height, half length

    def radius(d):
        return 1.0 / np.sqrt(((d / axes) ** 2).sum(axis=1))

    turn_short, distance_short = np.radians(7.0), 0.97

    def bounds_at(yaw):
        seen = directions @ yaw_rotation(yaw - turn_short).T
        return radius(seen) * distance_short, np.ones(len(directions), bool)

    yaw, scale = consistent_turn(bounds_at, radius(directions))
    np.testing.assert_allclose(np.degrees(yaw), 7.0, atol=ALIGN_TOLERANCE_DEG)
    np.testing.assert_allclose(scale, 1.0 / distance_short, rtol=1e-6)


def test_someone_beside_you_is_left_out_of_the_mask_the_scan_carves_with(two_people):
    # The live loop tracks one face (Hopper's, the larger); the astronaut beside her joins her
    # outline, and each scanned frame carved the astronaut's head into Hopper's hull as hair.
    from realtime.stages.photo import PhotoReconstructor
    from realtime.stages.scan import LiveScanner, ScanOptions

    with PhotoReconstructor() as photo:
        face = photo.run(two_people).faces[0]
    height, width = two_people.shape[:2]
    covered = {}
    for separate in (True, False):
        scanner = LiveScanner(ScanOptions(separate_people=separate))
        try:
            person = scanner.frame_mask(two_people, face.vertices_px).in_image(width, height) > 0.5
        finally:
            scanner.close()
        # The share of the frame above the chins left of the seam (the astronaut's side), and right of it.
        covered[separate] = person[:180, :230].mean(), person[:180, 250:].mean()
    assert covered[False][0] > 0.2  # without the search, the astronaut is part of the person
    assert covered[True][0] < 0.01
    assert covered[True][1] > 0.2 and covered[True][1] == pytest.approx(covered[False][1], abs=0.02)


def test_a_video_file_s_every_due_frame_is_carved_when_the_scanner_is_waited_for(monkeypatch):
    # Live, a frame due while the last one still carves is passed over (the loop never waits);
    # from a file (`selfie3d demo --video`) every due frame is carved, whatever the machine's speed.
    import time
    from types import SimpleNamespace

    from realtime.stages.scan import SETTLED_FRAMES, LiveScanner, ScanOptions

    def slow_mask(image, vertices):
        time.sleep(0.05)  # carving takes far longer than the loop's step here
        return None

    fused = SimpleNamespace(frames_fused=SETTLED_FRAMES, identity_reset=False, identity_mm=np.zeros((468, 3)),
                            raw_rotation=np.eye(3), raw_translation_mm=np.array([0.0, 0.0, 500.0]))
    frame, vertices = np.zeros((8, 8, 3), np.uint8), np.zeros((468, 2))
    due = [index % 2 == 0 for index in range(8)]
    for wait in (False, True):
        carved = []
        scanner = LiveScanner(ScanOptions(every_n_frames=2))
        monkeypatch.setattr(scanner, "frame_mask", slow_mask)
        monkeypatch.setattr(scanner.scan, "update", lambda *args: carved.append(args[0]))
        try:
            taken = [scanner.offer(frame, vertices, fused, None, index, wait=wait) for index in range(8)]
            carved_on_return = len(carved)  # the scan's result is read next: the last frame is in it
        finally:
            scanner.close()
        if wait:
            assert taken == due and carved_on_return == 4
        else:
            assert taken == [True] + [False] * 7  # the later due frames came while the first carved


def _fake_fused(frames_fused: int, identity_reset: bool = False):
    from types import SimpleNamespace

    return SimpleNamespace(frames_fused=frames_fused, identity_reset=identity_reset, identity_mm=np.zeros((468, 3)),
                           raw_rotation=np.eye(3), raw_translation_mm=np.array([0.0, 0.0, 500.0]))


def test_a_new_identity_starts_the_scan_over_and_a_frame_that_fails_does_not_stop_it(monkeypatch):
    # Fusion starts its count from one on a new identity (someone else in front of the camera): the
    # old hull, carved in the old identity's frame, must go, though the count is under the settled one.
    from realtime.stages.scan import SETTLED_FRAMES, LiveScanner, ScanOptions

    frame, vertices = np.zeros((8, 8, 3), np.uint8), np.zeros((468, 2))
    masks = iter([None, RuntimeError("a damaged frame"), None, None])

    def mask_or_fail(image, vertices):
        outcome = next(masks)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    carved, resets = [], []
    scanner = LiveScanner(ScanOptions(every_n_frames=1))
    monkeypatch.setattr(scanner, "frame_mask", mask_or_fail)
    monkeypatch.setattr(scanner.scan, "update", lambda *args: carved.append(args[1]))
    monkeypatch.setattr(scanner.scan, "reset", lambda: resets.append(len(carved)))
    try:
        settled = _fake_fused(SETTLED_FRAMES)
        assert [scanner.offer(frame, vertices, settled, None, index, wait=True) for index in range(3)] == [True] * 3
        assert len(carved) == 2 and scanner.failed_frames == 1  # the failing frame is left out, the next taken
        assert not scanner.offer(frame, vertices, _fake_fused(1, identity_reset=True), None, 3, wait=True)
        assert resets == [2] and scanner.cost_ms == []
        assert not scanner.offer(frame, vertices, _fake_fused(2), None, 4, wait=True)  # not settled again yet
    finally:
        scanner.close()
