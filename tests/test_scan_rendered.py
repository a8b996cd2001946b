"""Acceptance test of the live head scan on a rendered turning head with a hair volume
(realtime/tools/scan_accuracy.py): with the pose the live loop has (fusion's, refined on each
frame's landmarks, the turned frames aligned with the near-frontal frames' hull) the hull meets
the issue's 3 mm on the back and comes within a few millimetres on the sides, well inside the
single view's error; the refinement is needed for that and the alignment brings the back further in; and the carving
itself, given the pose the head was rendered at, comes within a few millimetres, and well inside
the issue's 3 mm on the sides wherever an outline can reach the surface (the temples' hollows
aside, which no visual hull reaches); and the head a snapshot exports with the scan keeps what the
scan measured, over every direction of the sides and back, seen or not, and down to the nape."""

import pytest

from realtime.stages.scan import COVERAGE_READY
from realtime.tools.scan_accuracy import ScanSweepOptions, run_scan_sweep

ACCEPTANCE_RMS_MM = 3.0  # the figure; the back measured 2.76 (a +-60 deg turn; 2.70 before network_crop)
SIDES_RMS_MM = 4.6  # the sides measured 4.22: short of 3 mm (docs/BENCHMARKS.md says why)
SINGLE_VIEW_SHARE = 0.35  # of the single view's RMS, sides and back (measured 4.22 / 12.6, 2.76 / 12.7)
REFINEMENT_GAIN_BACK = 0.4  # refined / fusion's own pose on the back (measured 3.0 / 11.3)
REFINEMENT_GAIN_SIDES = 0.75  # ... and on the sides (measured 4.0 / 6.4)
CARVING_RMS_MM = 4.0  # with the rendered pose; measured 3.18 / 3.34 (sides, back)
REACHABLE_SIDES_RMS_MM = 4.0  # the sides where an outline reaches the surface; measured 3.78 (3.55 before network_crop)
CARVING_REACHABLE_SIDES_RMS_MM = 1.5  # ... with the rendered pose; measured 0.91
EXPORTED_SLACK_MM = 0.3  # the exported head's sides against the hull's own (measured 3.96 / 4.22)
EXPORTED_LOWER_BACK_SHARE = 0.25  # of the single view's lower back (measured 3.23 / 18.1; 6.1 with the scan
# blended in from -0.6 behind the ears instead of bust.SCAN_MIN_ELEVATION_BEHIND's -0.7)
ALIGNMENT_GAIN_BACK_MM = 0.1  # the back, unaligned against aligned (measured 2.98 / 2.76; 3.04 / 2.70 before network_crop)
CAMERA_FRAME_SLACK_MM = 0.3  # the live hull's sides as the cameras place the truth, against the carving
# with the rendered pose (measured 3.26 / 3.18)


@pytest.fixture(scope="module")
def live(gl_ctx):
    return run_scan_sweep(ScanSweepOptions(), ctx=gl_ctx)


@pytest.fixture(scope="module")
def exact(gl_ctx):
    return run_scan_sweep(ScanSweepOptions(true_pose=True), ctx=gl_ctx)


@pytest.fixture(scope="module")
def refined_only(gl_ctx):
    return run_scan_sweep(ScanSweepOptions(align_turned=False), ctx=gl_ctx)


def test_a_head_turn_covers_enough_of_the_head_to_be_used(live):
    assert live.coverage >= COVERAGE_READY
    assert live.frames > 30


def test_the_scanned_hull_meets_the_acceptance_on_the_back_with_the_run_time_pose(live):
    assert live.scan_rms_mm["back"] <= ACCEPTANCE_RMS_MM
    assert live.scan_rms_mm["sides"] <= SIDES_RMS_MM
    assert live.scan_rms_mm["reachable_sides"] <= REACHABLE_SIDES_RMS_MM
    for region in ("sides", "back"):
        assert live.scan_rms_mm[region] <= SINGLE_VIEW_SHARE * live.single_view_rms_mm[region], region


def test_refining_the_pose_on_the_landmarks_brings_the_sides_and_back_in(refined_only, gl_ctx):
    as_fused = run_scan_sweep(ScanSweepOptions(refine_pose=False, align_turned=False), ctx=gl_ctx)
    assert refined_only.scan_rms_mm["back"] <= REFINEMENT_GAIN_BACK * as_fused.scan_rms_mm["back"]
    assert refined_only.scan_rms_mm["sides"] <= REFINEMENT_GAIN_SIDES * as_fused.scan_rms_mm["sides"]


def test_aligning_the_turned_frames_brings_the_back_in(live, refined_only):
    # Measured 3.04 -> 2.70 mm; 2.98 -> 2.76 since the segmentation is shown the frame itself, filling
    # its input (segmentation.network_crop): unaligned, the back is at the acceptance itself.
    assert live.scan_rms_mm["back"] <= ACCEPTANCE_RMS_MM
    assert live.scan_rms_mm["back"] < refined_only.scan_rms_mm["back"] - ALIGNMENT_GAIN_BACK_MM


def test_the_carving_with_the_rendered_pose_is_within_a_few_millimetres(exact):
    assert exact.scan_rms_mm["sides"] <= CARVING_RMS_MM
    assert exact.scan_rms_mm["back"] <= CARVING_RMS_MM
    # Where an outline can reach the surface the carving is within the figure; the rest of
    # the sides' error is the temples' hollow (scan_accuracy's module text).
    assert exact.scan_rms_mm["reachable_sides"] <= CARVING_REACHABLE_SIDES_RMS_MM
    assert exact.scan_rms_mm["reachable_sides"] < exact.scan_rms_mm["sides"] - 1.0


def test_against_the_truth_as_the_cameras_place_it_the_live_hull_is_as_good_as_the_rendered_pose(live, exact):
    # The live hull's sides are off the faces' fit by what the identity's own shape puts in its
    # frame (a pitch of some 3 deg); placed as the frames' cameras place it, the truth meets the
    # live hull as closely as the one carved with the rendered pose: the poses agree with each other.
    assert live.camera_frame_rms_mm["hull_sides"] <= exact.scan_rms_mm["sides"] + CAMERA_FRAME_SLACK_MM
    assert live.camera_frame_rms_mm["hull_sides"] < live.scan_rms_mm["sides"] - 0.5  # measured 3.26 / 4.22
    assert live.camera_frame_rms_mm["exported_sides"] <= live.camera_frame_rms_mm["hull_sides"] + EXPORTED_SLACK_MM
    # With the rendered pose the cameras place the truth where the faces' fit does.
    assert exact.camera_frame_rms_mm["pitch_deg"] == pytest.approx(0.0, abs=1e-6)
    assert exact.camera_frame_rms_mm["hull_sides"] == pytest.approx(exact.scan_rms_mm["sides"], abs=1e-6)


def test_as_the_cameras_place_the_truth_the_exported_head_meets_3mm_on_the_sides(live):
    # The hull itself cannot (the temples' hollow, module text of scan_accuracy); the exported head
    # keeps the face mesh's own surface there, blended into the hull over bust.SCAN_BLEND_BAND_RAD:
    # 2.88 mm at +-60 deg (3.11 over the skull prior's 14 deg band).
    assert live.camera_frame_rms_mm["exported_sides"] <= ACCEPTANCE_RMS_MM
    assert live.camera_frame_rms_mm["exported_back"] <= ACCEPTANCE_RMS_MM


def test_the_exported_head_keeps_the_scan_on_the_sides_and_back_down_to_the_nape(live):
    # Every direction of the back counts here, the ones no frame saw edge on too: before the gaps
    # were bridged and the scan reached behind the ears, the exported back was 10.7 mm RMS (a
    # groove down its middle), the lower back 18.8 (the single view's).
    assert live.exported_rms_mm["back"] <= ACCEPTANCE_RMS_MM
    assert live.exported_rms_mm["sides"] <= live.scan_rms_mm["sides"] + EXPORTED_SLACK_MM
    assert live.exported_rms_mm["lower_back"] <= EXPORTED_LOWER_BACK_SHARE * live.single_view_lower_back_rms_mm


def test_bench_scan_reports_the_hull_and_the_exported_head_per_turn(capsys, monkeypatch):
    import json

    from realtime.apps.cli import main
    from realtime.tools import scan_accuracy

    monkeypatch.setattr(scan_accuracy, "BENCH_TURNS_DEG", (60.0,))
    assert main(["bench", "--scan", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["turn_deg"] == 60.0
    assert report["exported_rms_back_mm"] <= ACCEPTANCE_RMS_MM < report["single_view_rms_back_mm"]
    assert report["scan_ms"] > 0 and report["scan_frames"] > 30
    assert report["camera_frame_hull_sides_mm"] <= report["scan_rms_sides_mm"]


def test_the_scan_table_has_a_row_per_turn_with_the_exported_head(live):
    from realtime.tools.scan_accuracy import format_scan_report

    table = format_scan_report([(45.0, live), (60.0, live)]).splitlines()
    assert len(table) == 4 and "exported back" in table[1] and "camera frame" in table[1]
    assert table[3].split()[0] == "60\u00b0"
    assert f"{live.exported_rms_mm['back']:.2f}" in table[3].split()
    assert f"{live.camera_frame_rms_mm['hull_sides']:.2f} / {live.camera_frame_rms_mm['exported_sides']:.2f}" in table[3]
