"""Where the package's data lives: models, shaders, calibration profiles, topology.

``models/``, ``shaders/`` and ``calibration/`` sit at the top of the repository and travel in
the wheel as ``realtime.models`` etc.; importlib.resources finds them in both layouts.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def _package_dir(package: str) -> Path:
    return Path(str(resources.files(package)))


def models_dir() -> Path:
    """The ONNX models; ``SELFIE3D_MODELS_DIR`` points elsewhere (models you rebuilt)."""
    override = os.environ.get("SELFIE3D_MODELS_DIR")
    return Path(override) if override else _package_dir("realtime.models")


def shaders_dir() -> Path:
    return _package_dir("realtime.shaders")


def calibration_dir() -> Path:
    return _package_dir("realtime.calibration")


def data_dir() -> Path:
    return _package_dir("realtime") / "data"
