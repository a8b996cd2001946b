"""Synthetic chessboard views at known intrinsics and poses, for tests and for checking a
calibration set-up without a printed board.

A flat board (``render_board``: black and white squares with a white margin) is warped into
the image with the homography of a pinhole camera, ``H = K [r1 r2 t]`` (the board lies in its
own z = 0 plane), plus optional Gaussian sensor noise. Out: ``(H, W, 3) uint8`` BGR images and
the true corner positions.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from realtime.apps.calibrate import board_corners_mm

# Board texture resolution, texture pixels per square: fine enough that the warp (bilinear)
# leaves the corners' sub-pixel position unbiased at the magnifications we render.
TEXELS_PER_SQUARE = 40


def render_board(board: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Board texture for ``board`` inner corners ``(cols, rows)``: ``(h, w) uint8`` and the
    texture position of the first inner corner (texels; one square of margin around)."""
    cols, rows = board
    squares_x, squares_y = cols + 1, rows + 1
    margin = 1  # squares of white border: the detector needs a quiet zone around the board
    texture = np.full(((squares_y + 2 * margin) * TEXELS_PER_SQUARE, (squares_x + 2 * margin) * TEXELS_PER_SQUARE),
                      255, np.uint8)
    for j in range(squares_y):
        for i in range(squares_x):
            if (i + j) % 2 == 0:
                y0, x0 = (j + margin) * TEXELS_PER_SQUARE, (i + margin) * TEXELS_PER_SQUARE
                texture[y0:y0 + TEXELS_PER_SQUARE, x0:x0 + TEXELS_PER_SQUARE] = 0
    return texture, float((margin + 1) * TEXELS_PER_SQUARE)


def rotation_from_euler_deg(x_deg: float, y_deg: float, z_deg: float) -> np.ndarray:
    """``Rz @ Ry @ Rx``, ``(3, 3) float64``, from angles in degrees."""
    x, y, z = (math.radians(v) for v in (x_deg, y_deg, z_deg))
    rx = np.array([[1, 0, 0], [0, math.cos(x), -math.sin(x)], [0, math.sin(x), math.cos(x)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(z), -math.sin(z), 0], [math.sin(z), math.cos(z), 0], [0, 0, 1]])
    return rz @ ry @ rx


def render_chessboard_view(camera_matrix: np.ndarray, image_size: tuple[int, int], board: tuple[int, int],
                           square_mm: float, rotation: np.ndarray, translation_mm: np.ndarray,
                           noise_sigma: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One view of the board.

    camera_matrix: ``(3, 3)`` K, pixels. image_size: (width, height) pixels. board: inner
    corners (cols, rows). square_mm: square size, mm. rotation ``(3, 3)``, translation_mm
    ``(3,)``: board plane to camera (OpenCV axes). noise_sigma: sensor noise, 8-bit levels.
    Returns ``(image (h, w, 3) uint8 BGR, corners (cols * rows, 2) float64 px)``: the image and
    the true (pinhole-projected) inner-corner positions.
    """
    texture, first = render_board(board)
    mm_per_texel = square_mm / TEXELS_PER_SQUARE
    # Texture (texels, OpenCV's pixel-centre convention) to board mm, first inner corner at the
    # origin: the edge between texels first-1 and first lies at first - 0.5.
    shift = (first - 0.5) * mm_per_texel
    texel_to_mm = np.array([[mm_per_texel, 0, -shift], [0, mm_per_texel, -shift], [0, 0, 1]])
    extrinsic = np.column_stack([rotation[:, 0], rotation[:, 1], translation_mm])
    homography = camera_matrix @ extrinsic @ texel_to_mm
    width, height = image_size
    image = cv2.warpPerspective(texture, homography, (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=128)
    if noise_sigma > 0:
        rng = np.random.default_rng(seed)
        image = np.clip(image + rng.normal(0, noise_sigma, image.shape), 0, 255).astype(np.uint8)
    corners, _ = cv2.projectPoints(board_corners_mm(board, square_mm), cv2.Rodrigues(rotation)[0],
                                   np.asarray(translation_mm, np.float64), camera_matrix, np.zeros(5))
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), corners.reshape(-1, 2).astype(np.float64)


def synthetic_calibration_set(camera_matrix: np.ndarray, image_size: tuple[int, int], board: tuple[int, int] = (9, 6),
                              square_mm: float = 25.0, views: int = 12, noise_sigma: float = 2.0,
                              seed: int = 0) -> list[np.ndarray]:
    """``views`` images of the board at varied tilts (up to ~35 degrees, what a person waving a
    board does) and distances that keep it inside the frame. Returns BGR images."""
    rng = np.random.default_rng(seed)
    cols, rows = board
    centre = np.array([(cols - 1) * square_mm / 2, (rows - 1) * square_mm / 2, 0.0])
    fx = camera_matrix[0, 0]
    width, height = image_size
    # Distance at which the board spans ~55% of the image width.
    distance = fx * (cols + 1) * square_mm / (0.55 * width)
    images = []
    for i in range(views):
        rotation = rotation_from_euler_deg(rng.uniform(-35, 35), rng.uniform(-35, 35), rng.uniform(-20, 20))
        offset = np.array([rng.uniform(-0.12, 0.12) * width, rng.uniform(-0.12, 0.12) * height]) * distance / fx
        translation = np.array([offset[0], offset[1], distance * rng.uniform(0.9, 1.15)]) - rotation @ centre
        image, _ = render_chessboard_view(camera_matrix, image_size, board, square_mm, rotation, translation,
                                          noise_sigma, seed=seed * 1000 + i)
        images.append(image)
    return images
