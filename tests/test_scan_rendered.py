"""Acceptance test of the live head scan on a rendered turning head with a hair volume
(realtime/tools/scan_accuracy.py): the hull beats the single view on the sides and back, and the
carving itself, given the pose the head was rendered at, comes within a few millimetres."""

import pytest

from realtime.stages.scan import COVERAGE_READY
from realtime.tools.scan_accuracy import ScanSweepOptions, run_scan_sweep

CARVING_RMS_MM = 4.0  # with the rendered pose; measured 3.4-3.5 (sides, back)
FUSED_SIDES_SHARE = 0.6  # of the single view's RMS on the sides (measured 6.4 / 12.8)
FUSED_BACK_SHARE = 0.9  # ... and on the back (measured 11.4 / 14.2)


@pytest.fixture(scope="module")
def fused(gl_ctx):
    return run_scan_sweep(ScanSweepOptions(), ctx=gl_ctx)


def test_a_head_turn_covers_enough_of_the_head_to_be_used(fused):
    assert fused.coverage >= COVERAGE_READY
    assert fused.frames > 30


def test_the_scanned_hull_beats_the_single_view_on_the_sides_and_back(fused):
    assert fused.scan_rms_mm["sides"] <= FUSED_SIDES_SHARE * fused.single_view_rms_mm["sides"]
    assert fused.scan_rms_mm["back"] <= FUSED_BACK_SHARE * fused.single_view_rms_mm["back"]


def test_the_carving_with_the_rendered_pose_is_within_a_few_millimetres(gl_ctx):
    exact = run_scan_sweep(ScanSweepOptions(true_pose=True), ctx=gl_ctx)
    assert exact.scan_rms_mm["sides"] <= CARVING_RMS_MM
    assert exact.scan_rms_mm["back"] <= CARVING_RMS_MM
