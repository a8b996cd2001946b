"""Measurements the fusion tests share (imported by the test modules beside it)."""

import numpy as np


def lag_frames(truth: np.ndarray, estimate: np.ndarray, max_lag: int = 6) -> float:
    """Delay of ``estimate`` behind ``truth`` in frames, both ``(t,)``: the peak of their
    cross-correlation, refined to a fraction of a frame by a parabola through it."""
    a, b = truth - truth.mean(), estimate - estimate.mean()
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.array([np.dot(a[max_lag:-max_lag], np.roll(b, -k)[max_lag:-max_lag]) for k in lags])
    k = int(np.argmax(corr))
    y0, y1, y2 = corr[k - 1], corr[k], corr[k + 1]
    return float(lags[k] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2))
