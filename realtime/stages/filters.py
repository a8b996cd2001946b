"""Adaptive temporal filters: One Euro for arrays and for rotations (quaternions).

The One Euro filter (Casiez, Roussel & Vogel, CHI 2012) is a first-order low-pass whose cutoff
rises with the signal's speed: ``fc = min_cutoff + beta * |speed|``. A still signal gets a low
cutoff (jitter removed), a fast one a high cutoff (little lag). ``OneEuroArray`` filters any
array shape at once, with one speed per row (e.g. one per vertex: the speed of a vertex is the
norm of its 3-vector velocity, so all three coordinates share one cutoff and the vertex moves
along its true path). ``OneEuroRotation`` filters a rotation in the tangent space of the
current estimate: the step from the filtered quaternion to the new one is a rotation vector,
and the filter moves a fraction ``alpha`` of it, so it never leaves the rotation group.
Optionally both extrapolate by the filter's own delay (``lead``), using the smoothed velocity,
which cancels the constant-velocity lag of the low-pass. A ``noise_scale`` per call counts the
speed in units of the signal's noise (a small, distant face's positions are noisier than the
face the options were tuned on), so the same options reject the same share of any noise.
Pure functions do the math; the classes hold the previous sample only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def smoothing_factor(dt_s: float, cutoff_hz: np.ndarray | float) -> np.ndarray:
    """Exponential smoothing factor of a first-order low-pass: ``alpha = 1 / (1 + tau / dt)``,
    ``tau = 1 / (2 pi fc)``. dt_s: seconds; cutoff_hz: Hz, any shape. Returns same shape, (0, 1]."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt_s)


@dataclass(frozen=True)
class OneEuroOptions:
    """min_cutoff: Hz at rest (lower = stiller, more lag when starting to move).
    beta: Hz per unit of speed (units/s); higher = less lag when moving.
    d_cutoff: Hz, cutoff of the speed estimate (1 Hz, the paper's recommendation).
    lead: fraction of the filter's delay to extrapolate with the smoothed velocity (0 = plain
    One Euro; 1 cancels the lag of a constant-velocity motion).
    lead_speed: units/s; the extrapolation is weighted by ``speed^2 / (speed^2 + lead_speed^2)``
    so it is off at rest (where the velocity is noise and would add jitter) and on when the
    signal really moves. 0 applies it at every speed.
    min_cutoff, beta, lead and lead_speed may be arrays that broadcast against the filtered
    rows (e.g. ``(3, 1)`` for one value per axis).
    """

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0
    lead: float = 0.0
    lead_speed: float = 0.0


def one_euro_step(x: np.ndarray, x_prev: np.ndarray, dx_prev: np.ndarray, dt_s: float,
                  options: OneEuroOptions, noise_scale: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of the One Euro filter.

    x: ``(n, k)`` new sample (any units u). x_prev: ``(n, k)`` previous filtered value (u).
    dx_prev: ``(n, k)`` previous filtered velocity (u/s). dt_s: seconds since the last sample.
    noise_scale: how many times noisier the signal is than the one the options were tuned
    on, a scalar or ``(n, 1)``: speeds are measured in units of it (``speed / noise_scale``
    opens the cutoff and gates the lead), so the same options reject the same share of the
    noise whatever its size, and a signal twice as noisy needs twice the speed to open the
    filter as far.
    Returns ``(filtered (n, k), velocity (n, k) u/s, output (n, k))``; output is the filtered
    value plus ``lead`` x the filter's delay x velocity.
    """
    dx = (x - x_prev) / dt_s
    a_d = smoothing_factor(dt_s, options.d_cutoff)
    dx_hat = dx_prev + a_d * (dx - dx_prev)
    speed = np.linalg.norm(dx_hat, axis=-1, keepdims=True) / noise_scale
    cutoff = options.min_cutoff + options.beta * speed
    a = smoothing_factor(dt_s, cutoff)
    x_hat = x_prev + a * (x - x_prev)
    out = x_hat
    if np.any(options.lead):
        # The EMA's steady-state delay on a ramp is (1 - a) / a samples.
        delay_s = (1.0 - a) / a * dt_s
        gate = np.where(np.asarray(options.lead_speed) > 0,
                        speed ** 2 / np.maximum(speed ** 2 + np.asarray(options.lead_speed) ** 2, 1e-300), 1.0)
        out = x_hat + options.lead * gate * delay_s * dx_hat
    return x_hat, dx_hat, out


class OneEuroArray:
    """One Euro filter over an ``(n, k)`` array (one speed and cutoff per row)."""

    def __init__(self, options: OneEuroOptions):
        self.options = options
        self.reset()

    def reset(self) -> None:
        self._x = None
        self._dx = None
        self._t = None

    def remap(self, value_fn, velocity_fn=None) -> None:
        """Express the filter's state in new coordinates (the caller changed frames): the value
        goes through ``value_fn``, the velocity through ``velocity_fn`` (default: the same)."""
        if self._x is not None:
            self._x = value_fn(self._x)
            self._dx = (velocity_fn or value_fn)(self._dx)

    def __call__(self, x: np.ndarray, timestamp_s: float, noise_scale: np.ndarray | float = 1.0) -> np.ndarray:
        """Filter ``x`` ``(n, k)`` taken at ``timestamp_s``; noise_scale: see ``one_euro_step``."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), timestamp_s
            return x.copy()
        dt = timestamp_s - self._t
        if not dt > 0:
            return self._x.copy()
        self._x, self._dx, out = one_euro_step(x, self._x, self._dx, dt, self.options, noise_scale)
        self._t = timestamp_s
        return out


# --------------------------------------------------------------------------------------------
# Rotations: quaternions (w, x, y, z), unit norm.


def quaternion_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """``(3, 3)`` rotation matrix -> ``(4,) float64`` unit quaternion (w, x, y, z), w >= 0."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def matrix_from_quaternion(q: np.ndarray) -> np.ndarray:
    """``(4,)`` quaternion (w, x, y, z) -> ``(3, 3) float64`` rotation matrix."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of ``(4,)`` quaternions (w, x, y, z)."""
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ])


def quaternion_conjugate(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def quaternion_log(q: np.ndarray) -> np.ndarray:
    """Unit quaternion -> rotation vector ``(3,)`` radians (axis x angle), shortest arc."""
    q = q if q[0] >= 0 else -q
    v = q[1:]
    norm = np.linalg.norm(v)
    if norm < 1e-12:
        return 2.0 * v
    return v * (2.0 * math.atan2(norm, q[0]) / norm)


def quaternion_exp(rotvec: np.ndarray) -> np.ndarray:
    """Rotation vector ``(3,)`` radians -> unit quaternion (w, x, y, z)."""
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        q = np.array([1.0, *(0.5 * np.asarray(rotvec))])
        return q / np.linalg.norm(q)
    axis = np.asarray(rotvec) / angle
    return np.array([math.cos(angle / 2), *(math.sin(angle / 2) * axis)])


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle of the rotation ``a^T b`` between two ``(3, 3)`` rotations, degrees."""
    cos = (np.trace(np.asarray(a).T @ np.asarray(b)) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


class OneEuroRotation:
    """One Euro filter for a rotation, in the tangent space of the current estimate.

    Speed is the norm of the smoothed angular velocity (rad/s); ``beta`` is in Hz per rad/s.
    """

    def __init__(self, options: OneEuroOptions):
        self.options = options
        self.reset()

    def reset(self) -> None:
        self._q = None
        self._w = np.zeros(3)  # smoothed angular velocity, rad/s, in the body frame
        self._t = None

    def rebase(self, axes: np.ndarray) -> None:
        """The rotated frame changed: new rotation = old rotation @ ``axes`` ``(3, 3)``."""
        if self._q is not None:
            self._q = quaternion_multiply(self._q, quaternion_from_matrix(axes))
            self._q /= np.linalg.norm(self._q)
            self._w = np.asarray(axes).T @ self._w

    def __call__(self, rotation: np.ndarray, timestamp_s: float, noise_scale: float = 1.0) -> np.ndarray:
        """rotation: ``(3, 3)``; noise_scale: see ``one_euro_step``. Returns the filtered
        ``(3, 3) float64`` rotation."""
        q = quaternion_from_matrix(rotation)
        if self._q is None:
            self._q, self._w, self._t = q, np.zeros(3), timestamp_s
            return matrix_from_quaternion(q)
        dt = timestamp_s - self._t
        if not dt > 0:
            return matrix_from_quaternion(self._q)
        delta = quaternion_log(quaternion_multiply(quaternion_conjugate(self._q), q))  # rad
        # The tangent-space step is a One Euro step from 0 towards delta.
        step, self._w, out = one_euro_step(delta[None], np.zeros((1, 3)), self._w[None], dt, self.options, noise_scale)
        self._w = self._w[0]
        self._q = quaternion_multiply(self._q, quaternion_exp(step[0]))
        self._q /= np.linalg.norm(self._q)
        self._t = timestamp_s
        if np.any(self.options.lead):
            return matrix_from_quaternion(quaternion_multiply(self._q, quaternion_exp(out[0] - step[0])))
        return matrix_from_quaternion(self._q)
