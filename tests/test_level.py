"""The camera's roll read from a photo's straight lines (``realtime.stages.level``): the leans of
segments, the lean they agree on, the ramp, the people and faces that veto it, and a photo turned
as a phone held askew turns it, whose bust then stands as the upright photo's does."""

import cv2
import numpy as np
import pytest

from askew import bust_up_lean_deg
from realtime import topology
from realtime.stages import level
from realtime.stages.level import (LevelOptions, LevelResult, camera_roll, dominant_lean, roll_from_lean,
                                   segment_leans)
from realtime.tools.likeness import turned_photo


def _room(lean_deg: float, size=(640, 480), seed=0) -> np.ndarray:
    """``(H, W, 3) uint8``: a plain wall with eight dark vertical edges (door frames, a window's
    sides, a wall's corner) that all lean ``lean_deg`` (their tops to the right when positive), and
    some short texture strokes at random angles."""
    width, height = size
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 190, np.uint8)
    lean = np.radians(lean_deg)
    for x in np.linspace(0.1 * width, 0.9 * width, 8):
        bottom = np.array([x, 0.85 * height])
        top = bottom + 0.6 * height * np.array([np.sin(lean), -np.cos(lean)])
        cv2.line(image, tuple(np.round(bottom).astype(int)), tuple(np.round(top).astype(int)), (60, 60, 60), 3,
                 cv2.LINE_AA)
    for _ in range(40):  # texture: strokes too short to count (``MIN_SEGMENT_SHARE``)
        start = rng.uniform((0, 0), (width, height))
        end = start + rng.uniform(-12, 12, 2)
        cv2.line(image, tuple(start.astype(int)), tuple(end.astype(int)), (120, 120, 120), 1)
    return image


def _face_leaning(lean_deg: float) -> np.ndarray:
    """``(468, 2)`` a stand-in mesh rolled ``lean_deg`` (its top to the right where positive): the
    outer eye corners 90 px apart and the chin to forehead 150 px, turned about the chin."""
    turn = np.radians(lean_deg)
    across, up = np.array([np.cos(turn), np.sin(turn)]), np.array([np.sin(turn), -np.cos(turn)])
    chin = np.array([300.0, 300.0])
    vertices = np.tile(chin + 80.0 * up, (topology.N_VERTICES, 1))
    vertices[topology.CHIN] = chin
    vertices[topology.FOREHEAD_TOP] = chin + 150.0 * up
    vertices[topology.RIGHT_EYE_OUTER] = chin + 100.0 * up - 45.0 * across  # the image-left eye
    vertices[topology.LEFT_EYE_OUTER] = chin + 100.0 * up + 45.0 * across
    return vertices


def test_a_segment_s_lean_is_its_top_s_offset_from_the_vertical_whichever_end_comes_first():
    top_right = np.array([[0.0, 100.0, 10.0, 0.0]])  # bottom (0, 100), top (10, 0)
    lean, length = segment_leans(np.vstack([top_right, top_right[:, [2, 3, 0, 1]]]))
    np.testing.assert_allclose(lean, np.degrees(np.arctan2(10.0, 100.0)))
    np.testing.assert_allclose(length, np.hypot(10.0, 100.0))
    lean, _ = segment_leans(np.array([[0.0, 100.0, -10.0, 0.0], [0.0, 0.0, 50.0, 0.0]]))
    assert lean[0] == pytest.approx(-5.71, abs=0.01) and abs(lean[1]) == pytest.approx(90.0)


def test_the_lean_most_segment_length_agrees_on_is_read_and_a_rival_family_vetoes_it():
    rng = np.random.default_rng(1)
    room = 7.0 + rng.normal(0.0, 0.3, 12)
    clutter = rng.uniform(-25.0, 25.0, 30)
    weights = np.concatenate([np.full(12, 0.2), np.full(30, 0.02)])
    lean, support, count = dominant_lean(np.concatenate([room, clutter]), weights)
    assert lean == pytest.approx(7.0, abs=0.3) and count >= 12 and support >= 12 * 0.2
    # Parallel rails on a staircase, slanted, nearly as long in all as the room's verticals.
    rails = np.full(10, -20.0)
    lean, _, _ = dominant_lean(np.concatenate([room, rails]), np.concatenate([np.full(12, 0.2), np.full(10, 0.15)]))
    assert lean is None
    # Too little agreeing length: a painting's few straight strokes.
    lean, support, _ = dominant_lean(room[:3], np.full(3, 0.2))
    assert lean is None and support == pytest.approx(0.6)
    # Only near-vertical segments count.
    assert dominant_lean(np.full(10, 40.0), np.full(10, 1.0))[0] is None


def test_a_slight_lean_is_the_room_s_own_and_a_larger_one_the_camera_s():
    low, high = level.LEVEL_RAMP_DEG
    assert roll_from_lean(None) == 0.0
    assert roll_from_lean(0.9 * low) == 0.0 and roll_from_lean(-0.9 * low) == 0.0
    assert roll_from_lean(0.5 * (low + high)) == pytest.approx(0.5 * np.radians(0.5 * (low + high)))
    assert roll_from_lean(-10.0) == pytest.approx(np.radians(-10.0))


@pytest.mark.parametrize("lean_deg,size", [(-12.0, (640, 480)), (0.0, (640, 480)), (9.0, (640, 480)),
                                           (7.0, (1600, 1200))])
def test_a_room_s_verticals_give_the_camera_s_roll(lean_deg, size):
    # 1600 x 1200 is shrunk to ``MAX_SIDE`` before the lines are looked for.
    result = camera_roll(_room(lean_deg, size))
    assert result.lean_deg == pytest.approx(lean_deg, abs=0.5)
    assert result.roll_rad == pytest.approx(roll_from_lean(result.lean_deg))
    assert result.segments >= 8 and result.timings_ms["level"] > 0


def _pitched_room(pitch_deg: float, roll_deg: float, xs) -> np.ndarray:
    """``(640, 480, 3) uint8``: a wall's vertical edges at ``xs`` (metres across, 3 m away, 2.8 m
    tall) seen by a camera with a 65 deg field across, pitched down ``pitch_deg`` (a selfie held
    above the face) and rolled so the room leans ``roll_deg`` (tops to the right)."""
    width, height = 480, 640
    focal = (width / 2) / np.tan(np.radians(32.5))
    pitch, roll = np.radians(pitch_deg), np.radians(roll_deg)
    tilt = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    turn = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])

    def pixel(point):
        q = tilt @ point
        offset = np.array([focal * q[0] / q[2], -focal * q[1] / q[2]])
        return np.array([width / 2, height / 2]) + turn @ offset

    image = np.full((height, width, 3), 190, np.uint8)
    for x in xs:
        bottom, top = pixel(np.array([x, -1.6, 3.0])), pixel(np.array([x, 1.2, 3.0]))
        cv2.line(image, tuple(np.round(bottom).astype(int)), tuple(np.round(top).astype(int)), (60, 60, 60), 3,
                 cv2.LINE_AA)
    return image


def test_a_camera_pitched_up_or_down_is_not_taken_for_a_rolled_one():
    one_side, both_sides = (-1.5, -1.4, -1.0, -0.9), (-1.2, -0.6, 0.6, 1.2)
    # A camera turned, not pitched: the room's verticals on both sides lean with it.
    assert camera_roll(_pitched_room(0.0, 8.0, both_sides)).lean_deg == pytest.approx(8.0, abs=0.5)
    # Pitched 15 deg down, not rolled (a selfie): door frames on one side converge on a point below
    # the photo and lean 7.4 deg there, which one lean across the photo took for a roll. Lines on
    # one side cannot tell a pitch from a roll, so they are not read even where it is a roll.
    assert camera_roll(_pitched_room(15.0, 0.0, one_side)).lean_deg is None
    assert camera_roll(_pitched_room(0.0, 8.0, one_side)).lean_deg is None
    # Lines on both sides of a pitched camera lean against each other: no roll either.
    assert camera_roll(_pitched_room(15.0, 0.0, (-1.5, -1.4, -1.0, 0.9, 1.0, 1.4))).lean_deg is None
    # Verticals near the middle lean little for the pitch: a roll is read there to a degree.
    assert camera_roll(_pitched_room(15.0, 8.0, (-0.3, -0.1, 0.1, 0.3))).lean_deg == pytest.approx(8.0, abs=1.0)


def test_the_people_s_own_lines_and_faces_leaning_otherwise_say_nothing_about_the_room():
    image = _room(9.0)
    assert camera_roll(image, np.ones(image.shape[:2], bool)).lean_deg is None
    # Faces that lean with the room: a camera held askew.
    kept = camera_roll(image, None, [_face_leaning(5.0), _face_leaning(14.0), _face_leaning(8.0)])
    assert kept.lean_deg == pytest.approx(9.0, abs=0.5) and kept.faces_lean_deg == pytest.approx(8.0)
    # Faces that lean the other way: slanted lines (a staircase's rails), not the room.
    vetoed = camera_roll(image, None, [_face_leaning(-5.0)])
    assert vetoed.lean_deg is None and vetoed.roll_rad == 0.0
    strict = camera_roll(image, None, [_face_leaning(3.0)], LevelOptions(face_agreement_deg=5.0))
    assert strict.lean_deg is None


@pytest.fixture(scope="module")
def photo():
    from realtime.stages.photo import PhotoReconstructor

    with PhotoReconstructor() as reconstructor:
        yield reconstructor


def test_a_photo_taken_askew_gives_the_bust_of_the_photo_taken_level(astronaut, photo):
    import trimesh

    from dataclasses import replace

    from realtime.printing.bust import photo_bust
    from realtime.tools.likeness import bust_distance_mm

    upright_image = turned_photo(astronaut, 0.0)
    upright = photo.run(upright_image)
    # The room behind her (the flag's stripes, the rocket's edges) stands level: no roll.
    assert upright.level.lean_deg == pytest.approx(0.0, abs=1.0) and upright.level.roll_rad == 0.0
    askew_image = turned_photo(astronaut, 10.0)
    askew = photo.run(askew_image)
    # Measured: +9.3 deg read for the 10 deg turn.
    assert askew.level.lean_deg == pytest.approx(10.0, abs=1.5)
    assert askew.level.roll_rad == pytest.approx(np.radians(askew.level.lean_deg))

    def mesh(result):
        return trimesh.Trimesh(result.mesh.vertices, result.mesh.faces)

    reference = mesh(photo_bust(upright, 0, upright_image))
    levelled = mesh(photo_bust(askew, 0, askew_image))
    as_photo = mesh(photo_bust(replace(askew, level=None), 0, askew_image))
    # Measured 3.58 mm from the upright photo's bust on the photo's up, 0.84 levelled (two different
    # people's busts are 4.6 mm apart, two runs of one photo 0.6).
    before, after = bust_distance_mm(reference, as_photo), bust_distance_mm(reference, levelled)
    assert after < 0.5 * before and after < 1.5


def test_no_level_keeps_the_photo_s_up_and_the_command_says_when_it_levels(astronaut, tmp_path, capsys):
    import json

    from realtime.apps.cli import main

    path = tmp_path / "askew.png"
    cv2.imwrite(str(path), turned_photo(astronaut, -10.0))
    report = tmp_path / "report.json"
    assert main(["photo", str(path), "-o", str(tmp_path / "x.stl"), "--no-level", "--report", str(report)]) == 0
    [face] = json.loads(report.read_text())["images"][0]["faces"]
    # Levelled, this photo's bust is turned -9.7 deg (the next test).
    assert face["camera_roll_deg"] == 0.0 and bust_up_lean_deg(face["bust_view"]) == pytest.approx(0.0, abs=1.0)
    assert "held askew" not in capsys.readouterr().out
    # Levelled, the command says so on the bust's line.
    assert main(["photo", str(path), "-o", str(tmp_path / "y.stl")]) == 0
    said = capsys.readouterr().out
    assert "note: the camera was held askew: the bust stands level by the room's vertical lines" in said


def test_the_photo_report_says_how_far_each_bust_was_turned(astronaut, tmp_path):
    from realtime.apps.jobs import PhotoJob, run_photo_job

    path = tmp_path / "askew.png"
    cv2.imwrite(str(path), turned_photo(astronaut, -10.0))
    levelled = run_photo_job(PhotoJob(str(path), str(tmp_path / "levelled.stl")))
    as_photo = run_photo_job(PhotoJob(str(path), str(tmp_path / "as_photo.stl"), level=False))
    head = run_photo_job(PhotoJob(str(path), str(tmp_path / "head.stl"), style="head"))
    assert levelled.ok and as_photo.ok and head.ok, (levelled.error, as_photo.error, head.error)
    assert head.faces[0]["camera_roll_deg"] == 0.0  # a head on a plinth has no body to stand level
    roll = levelled.faces[0]["camera_roll_deg"]
    assert roll == pytest.approx(-10.0, abs=1.5) and as_photo.faces[0]["camera_roll_deg"] == 0.0
    assert levelled.faces[0]["camera_roll_from"] == "lines"
    assert as_photo.faces[0]["camera_roll_from"] is None and head.faces[0]["camera_roll_from"] is None
    # The written file stands on the room's up: its +z seen in the photo leans with the room.
    assert bust_up_lean_deg(levelled.faces[0]["bust_view"]) == pytest.approx(roll, abs=0.5)
    assert bust_up_lean_deg(as_photo.faces[0]["bust_view"]) == pytest.approx(0.0, abs=1.0)


def test_every_face_found_is_checked_and_the_bust_s_person_left_out(two_people, photo, monkeypatch):
    seen = {}

    def recording(image, people=None, faces_px=None, options=LevelOptions()):
        seen.update(image=image, people=people, faces_px=faces_px)
        return camera_roll(image, people, faces_px, options)

    monkeypatch.setattr(level, "camera_roll", recording)
    result = photo.run(two_people)  # the largest face's bust only
    assert len(result.faces) == 1 and len(seen["faces_px"]) == 2  # Hopper's face is checked too
    height, width = two_people.shape[:2]
    assert seen["people"].shape == (height, width)  # no shrinking below MAX_SIDE
    nose = np.round(result.faces[0].vertices_px[topology.NOSE_TIP, :2]).astype(int)
    assert seen["people"][nose[1], nose[0]]  # the bust's person's mask is off the room
    # A photo over MAX_SIDE: the mask is drawn on the photo as shrunk for the lines.
    big = cv2.resize(two_people, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR)
    result = photo.run(big)
    scale = level.working_scale(2 * width, 2 * height)
    assert scale < 1.0 and seen["people"].shape == (round(2 * height * scale), round(2 * width * scale))
    full = (result.persons[0].in_image(2 * width, 2 * height) > 0.5).astype(np.uint8)
    expected = cv2.resize(full, seen["people"].shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    overlap = (expected & seen["people"]).sum() / (expected | seen["people"]).sum()
    assert overlap > 0.95


def test_odd_inputs_give_no_roll_or_one_clear_error():
    from realtime.errors import InputError

    assert camera_roll(np.zeros((0, 0, 3), np.uint8)).lean_deg is None
    assert camera_roll(np.full((40, 60, 3), 128, np.uint8)).lean_deg is None  # no lines at all
    with pytest.raises(InputError, match="8-bit"):
        camera_roll(np.zeros((40, 60, 3), np.float32))
    # A face without a shape does not count: alone it vetoes nothing, beside another the other decides.
    nan_face = np.full((topology.N_VERTICES, 2), np.nan)
    assert camera_roll(_room(9.0), None, [nan_face]).lean_deg == pytest.approx(9.0, abs=0.5)
    assert camera_roll(_room(9.0), None, [nan_face, _face_leaning(-5.0)]).lean_deg is None


def test_a_photo_upside_down_reads_its_room_as_its_people_lean_half_a_turn_round():
    # Lines have no head or foot: a face rolled 180 + 9 deg leans as a room at +9 does.
    assert camera_roll(_room(9.0), None, [_face_leaning(189.0)]).lean_deg == pytest.approx(9.0, abs=0.5)
    assert camera_roll(_room(9.0), None, [_face_leaning(-171.0)]).lean_deg == pytest.approx(9.0, abs=0.5)
    assert camera_roll(_room(9.0), None, [_face_leaning(150.0)]).lean_deg is None  # -30 deg: against the room


def _shoulders_at(roll_deg: float) -> np.ndarray:
    """``(2, 2)`` a subject's right and left shoulders, 200 px apart, whose line rolls ``roll_deg``."""
    turn = np.radians(roll_deg)
    return np.array([300.0, 400.0]) + np.outer([-100.0, 100.0], [np.cos(turn), np.sin(turn)])


def test_a_shoulders_line_rolls_as_a_face_does_positive_where_the_body_s_top_leans_right():
    from realtime import geometry

    for roll in (-20.0, 0.0, 9.0):
        assert level.shoulders_roll_deg(_shoulders_at(roll)) == pytest.approx(roll)
        assert geometry.face_roll_deg(_face_leaning(roll)) == pytest.approx(roll)
    # The body leaning right (its top right of its foot) lowers the image-right shoulder (y down).
    right_shoulder, left_shoulder = _shoulders_at(9.0)
    assert left_shoulder[1] > right_shoulder[1]


def test_one_person_s_face_and_shoulders_leaning_alike_level_a_photo_without_a_room():
    from realtime import geometry

    nothing = LevelResult(timings_ms={"level": 5.0})
    calls = []

    def shoulders_at(roll):
        def seen():
            calls.append(roll)
            return None if roll is None else _shoulders_at(roll)
        return seen

    read = level.levelled_by_body(nothing, _face_leaning(12.0), shoulders_at(9.0))
    assert read.source == "body" and read.lean_deg == pytest.approx(10.5)  # their mean
    assert read.roll_rad == pytest.approx(np.radians(10.5)) and "body" in read.timings_ms
    slight = level.levelled_by_body(nothing, _face_leaning(5.0), shoulders_at(4.0))
    # 4.5 deg, a sixth of the way up the ramp from 4 to 7: a sixth of its turn.
    assert slight.source == "body" and slight.roll_rad == pytest.approx(np.radians(4.5) / 6.0)
    # A face and shoulders half a turn round agree the short way (178 and -179 deg: 3 apart).
    upside_down = level.levelled_by_body(nothing, _face_leaning(178.0), shoulders_at(-179.0))
    assert upside_down.source == "body" and upside_down.lean_deg == pytest.approx(179.5)
    past_half_a_turn = level.levelled_by_body(nothing, _face_leaning(179.5), shoulders_at(-177.5))
    assert past_half_a_turn.lean_deg == pytest.approx(-179.0)  # 181 the short way round
    # Not where they disagree, where the shoulders are not seen, the other way round.
    for face, shoulders in ((12.0, 6.0), (12.0, None), (-12.0, 9.0), (12.0, 18.0), (178.0, -175.0)):
        kept = level.levelled_by_body(nothing, _face_leaning(face), shoulders_at(shoulders))
        assert kept.lean_deg is None and kept.roll_rad == 0.0 and kept.source is None, (face, shoulders)
    # Nor shoulders too close together for their line to mean much (a body turned from the camera).
    close_together = np.array([[350.0, 400.0], [0.5 * level.MIN_SHOULDER_SPAN * 150.0 + 350.0, 400.0 + 15.0]])
    kept = level.levelled_by_body(nothing, _face_leaning(12.0), lambda: close_together)
    assert geometry.face_height(_face_leaning(12.0)) == pytest.approx(150.0) and kept.source is None
    # A face leaning under the ramp's start, a face without a shape and a room already read never
    # run the pose network.
    calls.clear()
    room = LevelResult(roll_rad=np.radians(-9.0), lean_deg=-9.0, source="lines")
    assert level.levelled_by_body(room, _face_leaning(12.0), shoulders_at(12.0)) is room
    assert level.levelled_by_body(nothing, _face_leaning(3.5), shoulders_at(3.5)) is nothing
    assert level.levelled_by_body(nothing, np.full((topology.N_VERTICES, 2), np.nan), shoulders_at(9.0)) is nothing
    assert calls == []


def test_a_photo_of_one_person_on_a_plain_ground_taken_askew_is_levelled_by_her_body(astronaut, photo,
                                                                                 two_people, monkeypatch):
    import trimesh

    from dataclasses import replace

    from realtime import geometry
    from realtime.printing.bust import photo_bust, roll_report
    from realtime.tools.likeness import bust_distance_mm

    # The astronaut with the room behind her painted out: no lines to read.
    person = photo.run(astronaut).persons[0].in_image(astronaut.shape[1], astronaut.shape[0]) > 0.5
    plain = np.where(person[..., None], astronaut, np.uint8(90)).astype(np.uint8)
    upright_image = turned_photo(plain, 0.0)
    upright = photo.run(upright_image)
    assert upright.level.source is None and upright.level.roll_rad == 0.0  # her face leans 2 deg
    askew_image = turned_photo(plain, 12.0)
    askew = photo.run(askew_image)
    # Measured: face +14.8 deg, shoulders +13.8: read +14.3, the turn and her own lean of 2 deg.
    own_lean = geometry.face_roll_deg(upright.faces[0].vertices_px)
    assert askew.level.source == "body" and askew.level.lean_deg == pytest.approx(12.0 + own_lean, abs=2.0)

    def mesh(result):
        return trimesh.Trimesh(result.mesh.vertices, result.mesh.faces)

    reference = mesh(photo_bust(upright, 0, upright_image))
    levelled = photo_bust(askew, 0, askew_image)
    before = bust_distance_mm(reference, mesh(photo_bust(replace(askew, level=None), 0, askew_image)))
    after = bust_distance_mm(reference, mesh(levelled))
    said = roll_report(levelled, askew)
    assert said["camera_roll_from"] == "body" and "by the person's face and shoulders" in said["camera_roll_note"]
    # Measured 4.19 mm on the photo's up, 1.03 levelled.
    assert after < 0.5 * before and after < 1.6
    # Turned the other way the network reads her shoulders short (face -10.1, shoulders 0 deg): not
    # read, and at least not turned the wrong way.
    other_way = photo.run(turned_photo(plain, -12.0)).level
    assert other_way.source is None or other_way.lean_deg < 0.0
    # Inside a print's white border the network is shown the photo and the shoulders come back in
    # the bordered photo's pixels.
    border = np.array([50.0, 30.0])
    framed = cv2.copyMakeBorder(askew_image, 30, 30, 50, 50, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    face_px = askew.faces[0].vertices_px
    plain_shoulders = photo._shoulders(askew_image, face_px)
    framed_shoulders = photo._shoulders(framed, face_px + np.append(border, 0.0))
    assert np.allclose(framed_shoulders, plain_shoulders + border, atol=1.0)
    # Two people: their leans are their own; the pose network is not asked.
    monkeypatch.setattr(type(photo), "_shoulders", lambda *args: pytest.fail("asked for the shoulders"))
    assert photo.run(turned_photo(two_people, 12.0)).level.source != "body"


@pytest.mark.parametrize("size", [(640, 480), (1600, 1200), (1920, 1367), (3001, 997), (769, 5)])
def test_the_people_s_masks_are_drawn_at_the_size_opencv_shrinks_the_photo_to(size):
    width, height = size
    scale = level.working_scale(width, height)
    shrunk = cv2.resize(np.zeros((height, width), np.uint8), None, fx=scale, fy=scale,
                        interpolation=cv2.INTER_AREA) if scale < 1.0 else np.zeros((height, width))
    assert level.working_size(width, height) == (shrunk.shape[1], shrunk.shape[0])
