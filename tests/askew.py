"""A photo as a camera held askew takes it, for the tests of levelling (``realtime.stages.level``)."""

import cv2
import numpy as np


def turned_photo(image: np.ndarray, content_lean_deg: float) -> np.ndarray:
    """``image (H, W, 3)`` as a camera rolled so that its verticals lean ``content_lean_deg`` (tops to
    the right when positive) would take it: turned about its centre (the borders mirrored, then cut
    away: the middle 72% is kept, so nothing from outside the photo comes in)."""
    height, width = image.shape[:2]
    pad = height // 3
    big = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    # OpenCV's angle turns the content counter-clockwise: tops lean left.
    turn = cv2.getRotationMatrix2D((big.shape[1] / 2, big.shape[0] / 2), -content_lean_deg, 1.0)
    big = cv2.warpAffine(big, turn, big.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
    keep_h, keep_w = int(0.72 * height), int(0.72 * width)
    top, left = big.shape[0] // 2 - keep_h // 2, big.shape[1] // 2 - keep_w // 2
    return np.ascontiguousarray(big[top:top + keep_h, left:left + keep_w])


def bust_up_lean_deg(bust_view) -> float:
    """How far the written file's up (+z) leans in the photo, degrees, positive with its top to the
    right: from a report's ``bust_view`` ``(3, 4)`` (file mm -> photo pixels)."""
    up = np.asarray(bust_view, np.float64)[:2, 2]
    return float(np.degrees(np.arctan2(up[0], -up[1])))
