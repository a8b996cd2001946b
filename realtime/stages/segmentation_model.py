"""Person probability from MediaPipe's selfie segmentation network, through ONNX Runtime.

A thin layer over the ``selfie_segmentation`` model (``models/selfie_segmentation.onnx``, or
its ``selfie_segmentation_landscape`` variant): uint8 BGR crops ``(n, 256, 256, 3)`` in
(``(n, 144, 256, 3)`` for the landscape model), the probability that each pixel shows a person,
hair included, ``(n, 256, 256)`` float32 in [0, 1] out. The network ends in a sigmoid and the
conversion to its float RGB input is inside the graph (see ``models/README.md``), so nothing
else is done here. Which part of a frame becomes the crop (MediaPipe stretches the whole frame
to the input; a letterbox or a body crop are alternatives) and how the mask goes back onto the
frame is the caller's policy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from realtime.stages.inference import MAX_BATCH, Session, open_session
from realtime.shapes import check_shape

# Names in models/manifest.json.
MODEL_NAME = "selfie_segmentation"  # 256x256, the general model
LANDSCAPE_MODEL_NAME = "selfie_segmentation_landscape"  # 256 wide, 144 high
MASK_OUTPUT = "mask"


def open_segmentation_session(landscape: bool = False, providers: list[str] | None = None,
                              directory: Path | None = None, threads: int | None = None) -> Session:
    """The checked ONNX Runtime session for the general (or the landscape) segmentation model;
    ``providers``, ``directory`` and ``threads`` as ``realtime.stages.inference.open_session``."""
    return open_session(LANDSCAPE_MODEL_NAME if landscape else MODEL_NAME, providers, directory, threads)


def input_size(session: Session) -> tuple[int, int]:
    """The ``(height, width)`` in pixels that the session's model takes: (256, 256) or (144, 256)."""
    _, height, width, _ = session.session.get_inputs()[0].shape
    return int(height), int(width)


def person_probability(session: Session, crops_bgr: np.ndarray, max_batch: int = MAX_BATCH) -> np.ndarray:
    """Per pixel, the probability that it shows a person.

    session: from ``open_segmentation_session``. crops_bgr: ``(n, H, W, 3)`` uint8 BGR, as
    OpenCV holds images, at the model's input size (``input_size``: 256x256, or 144x256 for the
    landscape model); n >= 0, sent in calls of at most ``max_batch``.
    Returns ``(n, H, W)`` float32 in [0, 1], pixel for pixel over the crops.
    """
    height, width = input_size(session)
    crops = check_shape("crops_bgr", crops_bgr, (None, height, width, 3))
    if crops.dtype != np.uint8:
        raise ValueError(f"crops_bgr: expected uint8 BGR pixels, got {crops.dtype}")
    if len(crops) == 0:
        return np.zeros((0, height, width), np.float32)
    mask = session.run_batched(np.ascontiguousarray(crops), max_batch)[MASK_OUTPUT]  # (n, H, W, 1)
    return mask[..., 0]
