"""One shared helper for checking array shapes at public entry points."""

from __future__ import annotations

import numpy as np


def check_shape(name: str, array: np.ndarray, shape: tuple[int | None, ...], dtype=None) -> np.ndarray:
    """Return ``array`` as an ndarray after checking its shape (``None`` matches any size).

    Raises ``ValueError`` naming the argument, the expected and the actual shape, so a caller
    passing ``(468, 2)`` where ``(468, 3)`` is due learns which argument and which axis.
    """
    array = np.asarray(array) if dtype is None else np.asarray(array, dtype=dtype)
    if array.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(array.shape, shape)
    ):
        wanted = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name}: expected shape {wanted}, got {tuple(array.shape)}")
    return array
