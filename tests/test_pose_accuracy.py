"""``realtime.tools.pose_accuracy``: the pose sweep's arithmetic, and ``selfie3d bench --pose``.

The sweep's figures on the full 15 poses are the acceptance tests in ``test_fusion_rendered.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from realtime.camera import CameraIntrinsics
from realtime.tools.pose_accuracy import (SWEEP_POSES, PoseSweepOptions, perspective_n_point, pose_angles_deg,
                                    read_per_degree, relative_errors_deg, sweep_rotations)
from realtime.tools.synthetic_face import head_rotation, project_head_points


@pytest.mark.parametrize("pose", [(0, 0, 0), (40, 0, 0), (0, -20, 0), (0, 0, 30), (-25, 15, -20), (30, -15, 15)])
def test_pose_angles_invert_head_rotation(pose):
    assert_allclose(pose_angles_deg(head_rotation(*pose)), pose, atol=1e-9)


def test_relative_errors_ignore_the_estimates_own_axes():
    truths = [head_rotation(*pose) for pose in SWEEP_POSES[:5]]
    axes = head_rotation(3.0, -2.0, 1.0) @ head_rotation(0).T  # a different canonical frame
    exact = [t @ axes for t in truths]
    angles, signed = relative_errors_deg(exact, truths)
    assert_allclose(angles, 0.0, atol=1e-6)
    assert_allclose(signed, 0.0, atol=1e-6)
    # An estimate that reads 90% of every yaw: the error grows with the yaw and has the sign of under-turning.
    under = [head_rotation(0.9 * p[0], p[1], p[2]) for p in SWEEP_POSES[:5]]
    angles, signed = relative_errors_deg(under, truths)
    assert_allclose(angles, [4.0, 4.0, 0.0, 0.0], atol=1e-6)
    assert_allclose(signed[:, 0], [-4.0, 4.0, 0.0, 0.0], atol=1e-6)
    assert_allclose(read_per_degree(signed, np.asarray(SWEEP_POSES[1:5], float))[0], 0.9)


def test_read_per_degree_is_nan_for_an_axis_never_turned():
    poses = np.array([[10.0, 0.0, 0.0], [-20.0, 0.0, 0.0]])
    slopes = read_per_degree(np.array([[-1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]), poses)
    assert slopes[0] == pytest.approx(0.9) and np.isnan(slopes[1:]).all()


def test_sweep_reaches_and_holds_each_pose():
    rotations, read = sweep_rotations(SWEEP_POSES[:3], move_frames=10, hold_frames=8)
    assert len(rotations) == 3 * 18 and read == [17, 35, 53]
    for index, pose in zip(read, SWEEP_POSES[:3]):
        assert_allclose(rotations[index], head_rotation(*pose), atol=1e-12)
        assert_allclose(rotations[index - 7], rotations[index], atol=1e-12)  # held
    # Smooth: the half-cosine ease moves at most pi/2 x (the change) / (move frames) a frame;
    # the largest change here is 40 -> -40 deg of yaw.
    steps = [np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1))) for a, b in zip(rotations, rotations[1:])]
    assert 0.0 < max(steps) <= 80.0 * np.pi / 2 / 10 + 1e-6


def test_perspective_n_point_recovers_a_known_pose():
    rng = np.random.default_rng(3)
    model = rng.normal(scale=40.0, size=(40, 3))
    intrinsics = CameraIntrinsics.default(640, 480)
    rotation = head_rotation(25, -10, 15)
    image = project_head_points(model, rotation, np.array([10.0, -5.0, 550.0]), intrinsics)
    assert_allclose(perspective_n_point(model, image, intrinsics), rotation, atol=1e-6)


def test_bench_pose_cli_reports_the_sweep(capsys, monkeypatch, gl_ctx):
    from realtime.tools import pose_accuracy
    from realtime.apps.cli import main

    short = PoseSweepOptions(poses=SWEEP_POSES[:4], turn_frames=30)
    monkeypatch.setattr(pose_accuracy, "PoseSweepOptions", lambda: short)
    assert main(["bench", "--pose", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [entry["pose_deg"] for entry in report["poses"]] == [list(map(float, p)) for p in SWEEP_POSES[1:4]]
    assert 0.0 < report["pose_fused_median_deg"] < 10.0 and 0.0 < report["pose_floor_median_deg"] < 10.0
    assert len(report["pose_fused_read_per_degree"]) == 3
    assert main(["bench", "--pose"]) == 0
    table = capsys.readouterr().out
    assert "fused median" in table and "40, 0, 0" in table
