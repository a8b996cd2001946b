"""Acceptance test of the live head scan on a rendered turning head with a hair volume
(realtime/tools/scan_accuracy.py): with the pose the live loop has (fusion's, refined on each
frame's landmarks) the hull is within a few millimetres on the sides and back and well inside the
single view's error, the refinement is what gets it there, and the carving itself, given the pose
the head was rendered at, comes within a few millimetres."""

import pytest

from realtime.stages.scan import COVERAGE_READY
from realtime.tools.scan_accuracy import ScanSweepOptions, run_scan_sweep

CARVING_RMS_MM = 4.0  # with the rendered pose; measured 3.4-3.5 (sides, back)
REFINED_RMS_MM = 4.6  # with the refined run-time pose; measured 4.0 / 3.0 (sides, back)
REFINED_SHARE = 0.4  # of the single view's RMS, sides and back (measured 4.0 / 12.8, 3.0 / 14.2)
REFINEMENT_GAIN_BACK = 0.4  # refined / fusion's own pose on the back (measured 3.0 / 11.3)
REFINEMENT_GAIN_SIDES = 0.75  # ... and on the sides (measured 4.0 / 6.4)


@pytest.fixture(scope="module")
def fused(gl_ctx):
    return run_scan_sweep(ScanSweepOptions(), ctx=gl_ctx)


def test_a_head_turn_covers_enough_of_the_head_to_be_used(fused):
    assert fused.coverage >= COVERAGE_READY
    assert fused.frames > 30


def test_the_scanned_hull_is_within_a_few_millimetres_with_the_run_time_pose(fused):
    for region in ("sides", "back"):
        assert fused.scan_rms_mm[region] <= REFINED_RMS_MM, region
        assert fused.scan_rms_mm[region] <= REFINED_SHARE * fused.single_view_rms_mm[region], region


def test_refining_the_pose_on_the_landmarks_is_what_brings_the_back_in(fused, gl_ctx):
    as_fused = run_scan_sweep(ScanSweepOptions(refine_pose=False), ctx=gl_ctx)
    assert fused.scan_rms_mm["back"] <= REFINEMENT_GAIN_BACK * as_fused.scan_rms_mm["back"]
    assert fused.scan_rms_mm["sides"] <= REFINEMENT_GAIN_SIDES * as_fused.scan_rms_mm["sides"]


def test_the_carving_with_the_rendered_pose_is_within_a_few_millimetres(gl_ctx):
    exact = run_scan_sweep(ScanSweepOptions(true_pose=True), ctx=gl_ctx)
    assert exact.scan_rms_mm["sides"] <= CARVING_RMS_MM
    assert exact.scan_rms_mm["back"] <= CARVING_RMS_MM
