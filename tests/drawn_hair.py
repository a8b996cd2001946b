"""Long hair painted onto a photo, for the tests of hair that hangs below the chin."""

import cv2
import numpy as np

from realtime import topology


def paint_hanging_hair(image: np.ndarray, vertices_px: np.ndarray, beside_face: bool = True,
                       lighten: float = 1.0, colour: np.ndarray | None = None) -> np.ndarray:
    """``image (H, W, 3) uint8`` BGR with two locks of hair (the crown's colour unless told, with
    grain) on either side of the face whose mesh is at ``vertices_px (468, 2+)``: from above the ears down
    beside the face and on beside the neck to 0.8 face heights below the chin, the throat left
    bare. beside_face=False paints their parts below the chin joined to the hair above only by a
    strand too thin to frame the face (what a dark top beside the neck joined to short hair at the
    nape looks like). lighten: the locks' colour is the crown's times this (lengths lighter than
    the roots: sun, highlights). colour: ``(3,)`` BGR, the locks' colour instead (lighten
    ignored)."""
    v = np.asarray(vertices_px, np.float64)[:, :2]
    face_height = float(np.ptp(v[:, 1]))
    top, chin = v[topology.FOREHEAD_TOP], v[topology.CHIN]
    crown = image[int(top[1] - 0.25 * face_height):int(top[1] - 0.1 * face_height),
                  int(top[0] - 0.1 * face_height):int(top[0] + 0.1 * face_height)]
    if colour is None:
        colour = np.clip(np.median(crown.reshape(-1, 3), axis=0) * lighten, 0, 255)
    ears_y = 0.5 * (v[topology.FACE_SIDE_RIGHT, 1] + v[topology.FACE_SIDE_LEFT, 1])
    end_y = chin[1] + 0.8 * face_height
    locks = np.zeros(image.shape[:2], np.uint8)
    for side in (topology.FACE_SIDE_RIGHT, topology.FACE_SIDE_LEFT):
        x = v[side, 0]
        s = np.sign(x - chin[0])
        inner, beside_neck, outer = x - s * 0.05 * face_height, chin[0] + s * 0.3 * face_height, x + s * 0.3 * face_height
        if beside_face:
            outline = [[inner, ears_y - 0.3 * face_height], [outer, ears_y - 0.3 * face_height], [outer, end_y],
                       [beside_neck, end_y], [beside_neck, chin[1]], [inner, ears_y]]
        else:
            # A strand too thin to frame the face joins the hair above to the block below the chin.
            strand = outer - s * 0.05 * face_height
            outline = [[strand, ears_y - 0.3 * face_height], [outer, ears_y - 0.3 * face_height], [outer, end_y],
                       [beside_neck, end_y], [beside_neck, chin[1] + 0.05 * face_height],
                       [strand, chin[1] + 0.05 * face_height]]
        cv2.fillPoly(locks, [np.round(np.array(outline)).astype(np.int32)], 1)
    face = np.zeros_like(locks)
    cv2.fillPoly(face, [np.round(v[list(topology.FACE_OVAL)]).astype(np.int32)], 1)
    locks = locks.astype(bool) & ~face.astype(bool)
    painted = image.astype(np.float32)
    grain = np.random.default_rng(1).normal(0.0, 6.0, image.shape)
    painted[locks] = np.clip(colour + grain, 0, 255)[locks]
    return cv2.GaussianBlur(painted.astype(np.uint8), (3, 3), 0)


def paint_raised_top(image: np.ndarray, vertices_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(painted (H, W, 3) uint8, top (H, W) bool)``: ``image`` BGR with a top of the crown's colour
    (with grain) drawn up on either side of the face whose mesh is at ``vertices_px (468, 2+)``, as
    on a person leaning forward with the shoulders raised: from 0.6 to 1.3 face heights out of the
    chin's column, its top sloping from a quarter of a face height below the ears' row down to the
    chin's, on down to 0.8 face heights below the chin. Skin and the background part it from the
    hair above the ears."""
    v = np.asarray(vertices_px, np.float64)[:, :2]
    face_height = float(np.ptp(v[:, 1]))
    top, chin = v[topology.FOREHEAD_TOP], v[topology.CHIN]
    crown = image[int(top[1] - 0.25 * face_height):int(top[1] - 0.1 * face_height),
                  int(top[0] - 0.1 * face_height):int(top[0] + 0.1 * face_height)]
    colour = np.median(crown.reshape(-1, 3), axis=0)
    ears_y = 0.5 * (v[topology.FACE_SIDE_RIGHT, 1] + v[topology.FACE_SIDE_LEFT, 1])
    drawn = np.zeros(image.shape[:2], np.uint8)
    for side in (-1.0, 1.0):
        inner, outer = chin[0] + side * 0.6 * face_height, chin[0] + side * 1.3 * face_height
        outline = [[inner, ears_y + 0.25 * face_height], [outer, chin[1] - 0.05 * face_height],
                   [outer, chin[1] + 0.8 * face_height], [inner, chin[1] + 0.8 * face_height]]
        cv2.fillPoly(drawn, [np.round(np.array(outline)).astype(np.int32)], 1)
    shirt = drawn.astype(bool)
    painted = image.astype(np.float32)
    grain = np.random.default_rng(2).normal(0.0, 6.0, image.shape)
    painted[shirt] = np.clip(colour + grain, 0, 255)[shirt]
    return cv2.GaussianBlur(painted.astype(np.uint8), (3, 3), 0), shirt
