"""Show the fit: a bust's silhouette and landmarks drawn over the photo it was made from.

In: the photo, the exported solid (``(n, 3)`` mm vertices and faces, as in the file) and its
``bust_view`` (``(3, 4)``: file mm -> photo pixels, ``realtime.printing.bust.BustResult.view``), the face's
landmarks in pixels, and optionally the person mask. Out: the bust's silhouette in the photo
(``(h, w) bool``), its agreement with the person's outline above the chin (intersection over
union), and an overlay picture: the photo, the bust's silhouette shaded and outlined, the person's
outline, the 68 landmarks, and in a group photo each face's number (its file's).

The camera is affine, so the silhouette of the closed solid is the union of its projected triangles,
filled one by one (OpenCV's polygon fill of many polygons at once fills by parity).
"""

from __future__ import annotations

import cv2
import numpy as np

from realtime import geometry, topology
from realtime.shapes import check_shape

FILL_BGR = (230, 160, 40)
"""The bust's silhouette tint (a light blue), drawn at ``FILL_ALPHA`` over the photo."""
FILL_ALPHA = 0.35
OUTLINE_BGR = (255, 200, 60)
PERSON_BGR = (60, 200, 255)
"""The person's own outline (amber): where it and the bust's part is the fit's error."""
LANDMARK_BGR = (60, 255, 60)
NUMBER_BGR = (255, 255, 255)
"""A group photo's face numbers (white on a dark edge): N is the file ``<name>_faceN`` (1 is
``<name>`` itself), so the picture tells which file is whom."""
NUMBER_FACE_HEIGHTS = 0.35
"""A face number's height, in the face's own heights (chin to forehead top)..."""
NUMBER_MIN_SCALE = 0.4
"""... but at least this Hershey font scale (~9 px digits): a tiny face's number stays readable."""
NUMBER_GAP_FACE_HEIGHTS = 0.15
"""The number's baseline lies this many face heights above the mesh's top (on the hair, not the brow)."""
SUBPIXEL_BITS = 4
"""Fixed-point bits of the projected corners: triangles are filled to 1/16 pixel."""


def project(points_mm: np.ndarray, view: np.ndarray) -> np.ndarray:
    """Pixels ``(n, 2) float64`` of file points ``(n, 3)`` mm through a ``(3, 4)`` camera."""
    points = check_shape("points_mm", points_mm, (None, 3), dtype=np.float64)
    view = check_shape("view", view, (3, 4), dtype=np.float64)
    homogeneous = points @ view[:, :3].T + view[:, 3]
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def silhouette_mask(vertices_mm: np.ndarray, faces: np.ndarray, view: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The solid's silhouette in the photo: ``(height, width) bool`` for ``size = (width, height)``.

    vertices_mm: ``(n, 3)`` file mm.  faces: ``(m, 3)`` vertex indices of a closed surface.
    """
    faces = check_shape("faces", faces, (None, 3))
    pixels = np.round(project(vertices_mm, view) * (1 << SUBPIXEL_BITS)).astype(np.int32)
    width, height = size
    canvas = np.zeros((height, width), np.uint8)
    corners = pixels[faces]
    # A closed surface's silhouette is the union of the triangles facing the camera (the others
    # lie behind them): half the fills. Image y points down, so facing triangles are clockwise.
    cross = ((corners[:, 1, 0] - corners[:, 0, 0]) * (corners[:, 2, 1] - corners[:, 0, 1])
             - (corners[:, 1, 1] - corners[:, 0, 1]) * (corners[:, 2, 0] - corners[:, 0, 0]))
    facing = corners[cross != 0]
    if len(facing):
        sign = np.sign(np.median(cross[cross != 0]))
        facing = corners[np.sign(cross) == sign] if sign != 0 else facing
    for triangle in facing:
        cv2.fillConvexPoly(canvas, triangle, 1, cv2.LINE_8, SUBPIXEL_BITS)
    return canvas.astype(bool)


def above_chin(vertices_px: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(height, width) bool``: the photo's pixels above the line through the chin (landmark 152)
    across the face's up direction (chin to forehead top), for ``size = (width, height)``."""
    v = check_shape("vertices_px", vertices_px, (topology.N_VERTICES, None), dtype=np.float64)[:, :2]
    up = v[topology.FOREHEAD_TOP] - v[topology.CHIN]
    up /= np.linalg.norm(up)
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    return ((xs - v[topology.CHIN, 0]) * up[0] + (ys - v[topology.CHIN, 1]) * up[1]) > 0


def person_region(probability_in_image: np.ndarray, vertices_px: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The person joined to the face: ``(h, w) bool`` from a probability map ``(h, w)`` in the photo."""
    person = np.asarray(probability_in_image) > threshold
    nose = np.round(np.asarray(vertices_px, np.float64)[topology.NOSE_TIP, :2]).astype(int)
    h, w = person.shape
    count, labels = cv2.connectedComponents(person.astype(np.uint8), connectivity=8)
    if not (0 <= nose[0] < w and 0 <= nose[1] < h) or labels[nose[1], nose[0]] == 0:
        return person
    return labels == labels[nose[1], nose[0]]


def iou(a: np.ndarray, b: np.ndarray, within: np.ndarray | None = None) -> float:
    """Intersection over union of two ``(h, w) bool`` masks, counting only ``within`` (or all)."""
    if within is not None:
        a, b = a & within, b & within
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 0.0


def silhouette_iou(silhouette: np.ndarray, person, vertices_px: np.ndarray,
                   outline: np.ndarray | None = None) -> float:
    """How well a bust's ``silhouette (h, w) bool`` in the photo fits the person's outline above the chin:
    the intersection over union with the person joined to the face (``person_region`` of the
    ``PersonMask`` ``person``), counting the photo's pixels above the chin (``above_chin`` of the face
    at ``vertices_px (468, 2+)``) that the mask sees. Where another person stands in front, the mask
    holds nothing of this one, whatever the bust there is right or wrong: those pixels do not count
    (counted, they took up to 0.055 off a group photo's figure: face-api's sample4). outline: that
    ``person_region`` ``(h, w) bool`` where the caller has it already (None: made here)."""
    h, w = silhouette.shape
    if outline is None:
        outline = person_region(person.in_image(w, h), vertices_px)
    return iou(silhouette, outline, above_chin(vertices_px, (w, h)) & ~person.hidden_in_image(w, h))


def draw_overlay(image_bgr: np.ndarray, bust: np.ndarray, landmarks_px: np.ndarray | None = None,
                 person: np.ndarray | None = None) -> np.ndarray:
    """The photo with the bust's silhouette ``(h, w) bool`` tinted and outlined, the person's outline
    ``(h, w) bool`` (optional) and landmarks ``(k, 2)`` pixels (optional): ``(h, w, 3) uint8`` BGR."""
    out = np.asarray(image_bgr).copy()
    tint = np.empty_like(out)
    tint[:] = FILL_BGR
    out[bust] = (out[bust] * (1.0 - FILL_ALPHA) + tint[bust] * FILL_ALPHA).astype(np.uint8)
    thickness = max(1, round(max(out.shape[:2]) / 500))
    contours, _ = cv2.findContours(bust.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, OUTLINE_BGR, thickness, cv2.LINE_AA)
    if person is not None:
        contours, _ = cv2.findContours(person.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, PERSON_BGR, thickness, cv2.LINE_AA)
    if landmarks_px is not None:
        for x, y in np.asarray(landmarks_px, np.float64)[:, :2]:
            cv2.circle(out, (int(round(x * 16)), int(round(y * 16))), 16 * (thickness + 1), LANDMARK_BGR, -1,
                       cv2.LINE_AA, shift=4)
    return out


def outline_polygon(mask: np.ndarray, tolerance_px: float = 1.0) -> np.ndarray:
    """The largest outer contour of ``mask (h, w) bool`` as ``(k, 2) int`` pixels (simplified by
    ``tolerance_px``): what the web page draws."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros((0, 2), np.int64)
    largest = max(contours, key=cv2.contourArea)
    return cv2.approxPolyDP(largest, tolerance_px, True).reshape(-1, 2).astype(np.int64)


def photo_overlay(image_bgr: np.ndarray, faces, persons, busts,
                  numbers: list[int] | None = None) -> tuple[np.ndarray, list[float]]:
    """The overlay of a photo's busts: ``(picture (h, w, 3) uint8 BGR, silhouette IoU above the
    chin per face)``. faces: ``PhotoFace`` s; persons: their ``PersonMask`` s (or empty); busts: their
    ``BustResult`` s (each with its ``view``). numbers: what each face is called over its head, when
    the photo has several (None: 1, 2, ...; a face whose bust failed keeps its number unused)."""
    h, w = image_bgr.shape[:2]
    union = np.zeros((h, w), bool)
    outline = np.zeros((h, w), bool)
    fits = []
    landmarks = []
    for index, (face, bust) in enumerate(zip(faces, busts)):
        silhouette = silhouette_mask(bust.mesh.vertices, bust.mesh.faces, bust.view, (w, h))
        union |= silhouette
        landmarks.append(np.asarray(face.landmarks68_px, np.float64))
        if persons:
            person = person_region(persons[index].in_image(w, h), face.vertices_px)
            outline |= person
            fits.append(silhouette_iou(silhouette, persons[index], face.vertices_px, person))
        else:
            fits.append(float("nan"))
    picture = draw_overlay(image_bgr, union, np.vstack(landmarks) if landmarks else None,
                           outline if persons else None)
    numbers = list(range(1, len(faces) + 1)) if numbers is None else numbers
    if max(numbers, default=0) > 1:
        for number, face in zip(numbers, faces):
            draw_face_number(picture, face.vertices_px, number)
    return picture, fits


def draw_face_number(picture: np.ndarray, vertices_px: np.ndarray, number: int) -> None:
    """Write ``number`` on ``picture (h, w, 3) uint8`` (in place) above the face whose mesh is
    ``vertices_px (468, 2+)`` image pixels, ``NUMBER_FACE_HEIGHTS`` high, kept inside the picture."""
    v = check_shape("vertices_px", vertices_px, (topology.N_VERTICES, None), dtype=np.float64)[:, :2]
    face_height = geometry.face_height(v)
    text, font = str(number), cv2.FONT_HERSHEY_SIMPLEX
    (width, height), _ = cv2.getTextSize(text, font, 1.0, 2)
    scale = max(NUMBER_MIN_SCALE, NUMBER_FACE_HEIGHTS * face_height / height)
    thickness = max(1, int(round(scale * 2)))  # Hershey's stroke at scale 1 is 2 px
    width, height = int(width * scale), int(height * scale)
    x = int(np.clip(v[topology.FOREHEAD_TOP, 0] - width / 2, 0, max(0, picture.shape[1] - width)))
    y = int(np.clip(v[:, 1].min() - NUMBER_GAP_FACE_HEIGHTS * face_height, height, picture.shape[0] - 1))
    # White over a dark edge twice as thick: readable on dark hair and on a white wall.
    cv2.putText(picture, text, (x, y), font, scale, (0, 0, 0), 2 * thickness + 1, cv2.LINE_AA)
    cv2.putText(picture, text, (x, y), font, scale, NUMBER_BGR, thickness, cv2.LINE_AA)


def write_photo_overlay(path, image_bgr: np.ndarray, result, busts, overwrite: bool = False,
                        made: list[int] | None = None) -> list[float]:
    """Write ``photo_overlay`` of a ``PhotoResult`` and its busts to ``path`` (a .png, atomically);
    returns the silhouette IoU above the chin per bust. made: the indices of the faces the busts are
    of (None: every face)."""
    from realtime.fileio import atomic_output

    made = list(range(len(result.faces))) if made is None else made
    persons = [result.persons[index] for index in made] if result.persons else []
    numbers = [index + 1 for index in made] if len(result.faces) > 1 else [1] * len(made)
    picture, fits = photo_overlay(image_bgr, [result.faces[index] for index in made], persons, busts, numbers)
    with atomic_output(path, overwrite=overwrite) as temporary:
        cv2.imwrite(str(temporary), picture)
    return fits
