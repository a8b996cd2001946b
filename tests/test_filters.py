"""Tests for realtime/stages/filters.py: One Euro on arrays and rotations, quaternion helpers."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
import pytest
from numpy.testing import assert_allclose

from realtime.stages.filters import (
    OneEuroArray, OneEuroOptions, OneEuroRotation, matrix_from_quaternion, quaternion_exp, quaternion_from_matrix,
    quaternion_log, rotation_angle_deg, smoothing_factor,
)

_ROTATION_ATOL = 1e-9
_FPS = 30.0


@settings(max_examples=60, deadline=None)
@given(st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(-3, 3)))
def test_quaternion_round_trips(rotvec):
    rotvec = np.asarray(rotvec)
    if np.linalg.norm(rotvec) >= math.pi:  # the log returns the shortest arc
        rotvec = rotvec / np.linalg.norm(rotvec) * 3.0
    q = quaternion_exp(rotvec)
    matrix = matrix_from_quaternion(q)
    assert_allclose(matrix @ matrix.T, np.eye(3), atol=_ROTATION_ATOL)
    assert_allclose(matrix_from_quaternion(quaternion_from_matrix(matrix)), matrix, atol=_ROTATION_ATOL)
    assert_allclose(quaternion_log(q), rotvec, atol=1e-7)


def test_smoothing_factor_limits():
    assert_allclose(smoothing_factor(1 / 30, 1e6), 1.0, atol=1e-4)
    assert smoothing_factor(1 / 30, 0.01) < 0.01


def test_one_euro_stills_noise_and_follows_fast_motion():
    rng = np.random.default_rng(0)
    options = OneEuroOptions(min_cutoff=0.4, beta=0.05, d_cutoff=1.0)
    still = OneEuroArray(options)
    noisy = rng.normal(0, 1.0, (120, 1, 1))
    out = np.array([still(x, i / _FPS) for i, x in enumerate(noisy)])
    assert np.std(np.diff(out[30:, 0, 0])) < 0.2 * np.std(np.diff(noisy[30:, 0, 0]))
    fast = OneEuroArray(options)
    ramp = [fast(np.array([[100.0 * i / _FPS]]), i / _FPS)[0, 0] for i in range(60)]
    assert 100.0 * 59 / _FPS - ramp[-1] < 100.0 / _FPS * 1.0  # < 1 frame behind at 100 units/s


def test_one_euro_rotation_stays_a_rotation_and_converges():
    filt = OneEuroRotation(OneEuroOptions(min_cutoff=1.0, beta=2.0))
    target = matrix_from_quaternion(quaternion_exp(np.array([0.3, -0.5, 0.2])))
    filt(np.eye(3), 0.0)
    for i in range(1, 60):
        out = filt(target, i / _FPS)
    assert_allclose(out @ out.T, np.eye(3), atol=_ROTATION_ATOL)
    assert rotation_angle_deg(out, target) < 0.1


def test_repeated_timestamp_returns_previous():
    filt = OneEuroArray(OneEuroOptions())
    first = filt(np.ones((2, 3)), 1.0)
    assert_allclose(filt(np.zeros((2, 3)), 1.0), first)


def test_noise_scale_makes_the_filter_scale_invariant():
    # The same signal k times larger (noise and motion alike), filtered with noise_scale k, is
    # the same output k times larger: a noisier face's noise opens the filter no further.
    rng = np.random.default_rng(5)
    options = OneEuroOptions(min_cutoff=0.4, beta=0.3, d_cutoff=1.0, lead=1.0, lead_speed=5.0)
    signal = np.cumsum(rng.normal(0, 1.0, (90, 2, 3)), axis=0)
    k = 3.7
    plain, scaled = OneEuroArray(options), OneEuroArray(options)
    for i, x in enumerate(signal):
        a = plain(x, i / _FPS)
        b = scaled(k * x, i / _FPS, noise_scale=k)
        assert_allclose(b, k * a, rtol=1e-9, atol=1e-9)
    # Per row: only the noisier row is scaled.
    rows = OneEuroArray(options)
    both = [rows(np.stack([x[0], k * x[1]]), i / _FPS, noise_scale=np.array([[1.0], [k]])) for i, x in enumerate(signal)]
    first = OneEuroArray(options)
    assert_allclose(both[-1][0], [first(x[0:1], i / _FPS) for i, x in enumerate(signal)][-1][0], atol=1e-9)


def test_unscaled_noise_opens_the_filter():
    # Without the scale, a 4x noisier signal is filtered less (its noise reads as speed): the
    # reason fusion scales a distant face's speeds.
    rng = np.random.default_rng(6)
    options = OneEuroOptions(min_cutoff=0.4, beta=0.5, d_cutoff=1.0)
    noise = rng.normal(0, 1.0, (150, 1, 1))
    def kept(scale, noise_scale):
        filt = OneEuroArray(options)
        out = np.array([filt(scale * x, i / _FPS, noise_scale) for i, x in enumerate(noise)])
        return np.std(np.diff(out[30:, 0, 0])) / np.std(np.diff(scale * noise[30:, 0, 0]))
    assert kept(4.0, 1.0) > 1.5 * kept(1.0, 1.0)
    assert kept(4.0, 4.0) == pytest.approx(kept(1.0, 1.0), rel=1e-6)
