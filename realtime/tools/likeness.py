"""How different two busts are: the measure behind "two people must give visibly different busts".

In: two closed solids in the print frame (mm, Z up, base on Z = 0, facing -Y). Out: the RMS
surface distance between them after scaling both to the same height and aligning them (centroids,
then the turn about the vertical and the shift that best overlay them: a few rounds of
iterative closest points restricted to those), in mm at a reference height. Busts of one person
from different photos (another pose, light, crop) should be close; busts of different people far.
Development and benchmark use, and the acceptance tests; ``python -m realtime.tools.likeness OUT.png
PHOTO...`` draws the contact sheet of ``docs/likeness.png``: each photo, the bust's fit over it,
and the bust from three sides. ``python -m realtime.tools.likeness distances PHOTO... --clip
VIDEO...`` prints the distances between busts of different people (each photo and each clip's
first frame) and of the same person (frames of one clip), and their ratio. ``python -m
realtime.tools.likeness crown PHOTO...`` cuts each photo at its face mesh's top and compares the
bust of the cut photo with the whole photo's above the cut (``cut_crown_agreement``). ``python -m
realtime.tools.likeness askew PHOTO...`` turns each photo as a camera held askew would
(``turned_photo``) and compares each turned photo's bust, on the photo's up and levelled by the
camera's roll (``realtime.stages.level``), with the upright photo's (``askew_distances``). ``python -m
realtime.tools.likeness turned PHOTO...`` turns each whole photo by 16 angles up to a full turn
(``whole_turned_photo``) and counts, for each, whether the face found is the upright photo's
(``turned_photo_sweep``): the measure of the searches turned half round and a quarter
(``PhotoOptions.upside_down``, ``PhotoOptions.sideways``).
"""

from __future__ import annotations

import numpy as np

REFERENCE_HEIGHT_MM = 100.0
"""Both busts are scaled to this height before they are compared."""
SAMPLES = 20_000
"""Surface samples per bust (area-weighted): ~ 0.7 mm apart on a 100 mm bust."""
ICP_ROUNDS = 8
"""Alignment rounds (turn about Z and shift in X, Y)."""
SWEEP_TURNS_DEG = (20, 35, 50, 70, 90, 110, 150, 165, 180, 195, 210, 250, 270, 290, 325, 340)
"""``turned_photo_sweep``'s turns (counter-clockwise, as the photo is seen): none upright, half of
them within 70 deg of upside down."""
SWEEP_LONGEST_PX = 1000
"""Photos are shrunk to at most this many pixels on their longer side before they are turned."""
SWEEP_RIGHT_WITHIN = 0.1
"""A turned photo's face is the upright one's where its landmarks lie within this many face widths
of it (median): a mesh on the wrong face, or upright on an upside-down face, lies much further."""


def _samples(mesh, count: int, seed: int) -> np.ndarray:
    import trimesh

    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points, np.float64)


def _normalised(points: np.ndarray) -> np.ndarray:
    """Points scaled to ``REFERENCE_HEIGHT_MM`` tall from their base, centred in X and Y."""
    z0, z1 = points[:, 2].min(), points[:, 2].max()
    scaled = (points - [0.0, 0.0, z0]) * (REFERENCE_HEIGHT_MM / (z1 - z0))
    scaled[:, :2] -= scaled[:, :2].mean(axis=0)
    return scaled


def bust_distance_mm(mesh_a, mesh_b, samples: int = SAMPLES) -> float:
    """Symmetric RMS surface distance, mm at ``REFERENCE_HEIGHT_MM``, between two busts
    (``trimesh.Trimesh``) after scaling to the same height and aligning about the vertical."""
    from scipy.spatial import cKDTree

    a = _normalised(_samples(mesh_a, samples, 1))
    b = _normalised(_samples(mesh_b, samples, 2))
    tree_b = cKDTree(b)
    moved = a
    for _ in range(ICP_ROUNDS):
        _, index = tree_b.query(moved)
        target = b[index]
        # Best turn about Z and shift in X, Y (2-D Procrustes on the horizontal coordinates).
        pa, pb = moved[:, :2] - moved[:, :2].mean(0), target[:, :2] - target[:, :2].mean(0)
        u, _, vt = np.linalg.svd(pa.T @ pb)
        rotation = (u @ vt).T
        if np.linalg.det(rotation) < 0:
            break
        moved = moved.copy()
        moved[:, :2] = pa @ rotation.T + target[:, :2].mean(0)
    d_ab, _ = tree_b.query(moved)
    d_ba, _ = cKDTree(moved).query(b)
    return float(np.sqrt(0.5 * (np.mean(d_ab**2) + np.mean(d_ba**2))))


SAME_PERSON_FRAMES = (0, 35, 70)
"""Frames of each clip whose busts are compared with each other: the same person, a little later."""


def _largest_face_bust(photo, image: np.ndarray, style: str):
    """``(PhotoResult, BustResult)`` of the largest face in ``image`` (BGR), or None without a face."""
    from realtime.printing.bust import BustOptions, photo_bust

    found = photo.run(image)
    if not found.faces:
        return None
    return found, photo_bust(found, 0, image, BustOptions(style=style))


def _clip_frames(clip: str, frames: tuple[int, ...]) -> list[np.ndarray]:
    """Frames ``frames`` of a video file (``"demo"``: the built-in demo clip), BGR."""
    from realtime.stages.capture import CaptureOptions, open_reader

    reader = open_reader(CaptureOptions(path=None if clip == "demo" else clip))
    wanted, out, count = set(frames), [], 0
    try:
        while len(out) < len(wanted):
            read = reader.read()
            if read is None:
                break
            # The source's own frame index where it gives one (a damaged video skips some).
            index = read[2] if len(read) > 2 else count
            count += 1
            if index in wanted:
                out.append(read[0])
    finally:
        reader.close()
    return out


def distinct_people(photos: list[str], clips: list[str], frames: tuple[int, ...] = SAME_PERSON_FRAMES,
                    style: str = "bust") -> tuple[list[float], list[float]]:
    """``(different, same)``: ``bust_distance_mm`` between the busts of different people (every pair
    of the photos and the clips' first frames) and of the same person (every pair of frames of one
    clip). A photo or frame without a face is left out."""
    from itertools import combinations

    from realtime.stages.imagefile import load_image
    from realtime.stages.photo import PhotoReconstructor

    def mesh(photo, image):
        made = _largest_face_bust(photo, image, style)
        return None if made is None else made[1].mesh

    with PhotoReconstructor() as photo:
        people = [mesh(photo, load_image(path)) for path in photos]
        per_clip = [[mesh(photo, image) for image in _clip_frames(clip, frames)] for clip in clips]
    people = [m for m in people + [c[0] for c in per_clip if c] if m is not None]
    different = [bust_distance_mm(a, b) for a, b in combinations(people, 2)]
    same = [bust_distance_mm(a, b) for c in per_clip for a, b in combinations([m for m in c if m is not None], 2)]
    return different, same


def distances_report(different: list[float], same: list[float]) -> str:
    """One line: the median and range of each, and the ratio of the medians."""
    def summary(values):
        return f"median {np.median(values):.2f} mm, {min(values):.2f}-{max(values):.2f} ({len(values)} pairs)"

    ratio = np.median(different) / np.median(same)
    return f"different people: {summary(different)}; the same person: {summary(same)}; ratio {ratio:.2f}"


def cut_crown_agreement(photo, image: np.ndarray, style: str = "bust") -> tuple[float, float] | None:
    """How well a bust from ``image`` (BGR) cut at its face mesh's top keeps the head above the cut:
    ``(IoU, area ratio)`` of the cut photo's bust and the whole photo's, seen through their
    ``bust_view`` above the cut (the photo shows nothing there; the whole photo does). None without
    a face in either, or where the photo's top already cuts the face."""
    from realtime.printing import overlay

    made = _largest_face_bust(photo, image, style)
    if made is None:
        return None
    found, whole = made
    row = int(found.faces[0].vertices_px[:, 1].min())
    if row <= 0:
        return None  # the photo already cuts the face
    cut = _largest_face_bust(photo, np.ascontiguousarray(image[row:]), style)
    if cut is None:
        return None
    h, w = image.shape[:2]
    down = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, row], [0.0, 0.0, 1.0]])  # the cut photo's pixels -> the whole's
    masks = [overlay.silhouette_mask(bust.mesh.vertices, bust.mesh.faces, shift @ bust.view, (w, h))[:row]
             for bust, shift in ((whole, np.eye(3)), (cut[1], down))]
    return overlay.iou(*masks), float(masks[1].sum() / max(masks[0].sum(), 1))


SHEET_TILE_PX = 300
"""Height of each picture in the contact sheet."""
SHEET_YAWS_DEG = (0.0, 70.0, 180.0)
"""The bust's turn in the sheet's three views (the preview's own view looks 25 deg from the side)."""


def contact_sheet(photos: list[str], style: str = "bust") -> np.ndarray:
    """``(h, w, 3) uint8`` BGR: a row per photo (largest face): the photo, the fit overlay (the
    bust's silhouette and landmarks over it, with the silhouette IoU above the chin), the bust
    from three sides."""
    import cv2
    import trimesh

    from realtime.stages.imagefile import load_image
    from realtime.printing.overlay import photo_overlay
    from realtime.stages.photo import PhotoReconstructor
    from realtime.render import create_headless_context
    from realtime.render.preview import render_mesh_picture

    rows = []
    ctx = create_headless_context()
    try:
        with PhotoReconstructor() as photo:
            for path in photos:
                image = load_image(path)
                made = _largest_face_bust(photo, image, style)
                if made is None:
                    continue
                found, bust = made
                picture, fits = photo_overlay(image, found.faces[:1], found.persons[:1], [bust])
                tiles = []
                for shown in (image, picture):
                    scale = SHEET_TILE_PX / shown.shape[0]
                    tiles.append(cv2.resize(shown, (max(1, int(shown.shape[1] * scale)), SHEET_TILE_PX),
                                            interpolation=cv2.INTER_AREA))
                cv2.putText(tiles[1], f"IoU {fits[0]:.2f}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2,
                            cv2.LINE_AA)
                for yaw in SHEET_YAWS_DEG:
                    mesh = bust.mesh.copy()
                    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.radians(yaw), [0, 0, 1]))
                    tiles.append(render_mesh_picture(mesh.vertices, mesh.faces, (SHEET_TILE_PX, SHEET_TILE_PX), ctx))
                rows.append(np.hstack(tiles))
    finally:
        ctx.release()
    width = max(row.shape[1] for row in rows)
    background = (242, 240, 238)
    return np.vstack([cv2.copyMakeBorder(row, 0, 0, 0, width - row.shape[1], cv2.BORDER_CONSTANT, value=background)
                      for row in rows])


def turned_photo(image: np.ndarray, content_lean_deg: float, keep: float = 0.72) -> np.ndarray:
    """``image (H, W, 3)`` as a camera rolled so that its verticals lean ``content_lean_deg`` (tops to
    the right when positive) would take it: turned about its centre (the borders mirrored, then cut
    away: the middle ``keep`` of each side is kept, so nothing from outside the photo comes in up to
    a 20 deg turn)."""
    import cv2

    height, width = image.shape[:2]
    pad = height // 3
    big = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    # OpenCV's angle turns the content counter-clockwise: tops lean left.
    turn = cv2.getRotationMatrix2D((big.shape[1] / 2, big.shape[0] / 2), -content_lean_deg, 1.0)
    big = cv2.warpAffine(big, turn, big.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
    keep_h, keep_w = int(keep * height), int(keep * width)
    top, left = big.shape[0] // 2 - keep_h // 2, big.shape[1] // 2 - keep_w // 2
    return np.ascontiguousarray(big[top:top + keep_h, left:left + keep_w])


def askew_distances(photo, image: np.ndarray, leans_deg=(-20.0, -10.0, 10.0, 20.0), style: str = "bust") -> list[dict]:
    """For each lean in ``leans_deg``, the bust of ``image`` turned so (``turned_photo``) against the
    bust of it upright (``turned_photo`` at 0): ``{"lean_deg", "read_deg" (the lean the level read, or
    None), "as_photo_mm" (on the photo's up), "levelled_mm"}`` (``bust_distance_mm``), or
    ``"read_deg": None`` and no distances where the turned photo shows no face. ``photo``: a
    ``PhotoReconstructor`` (its level on)."""
    from dataclasses import replace

    import trimesh

    from realtime.printing.bust import BustOptions, photo_bust

    def busts(picture):
        found = photo.run(picture)
        if not found.faces:
            return found, None, None
        as_photo = photo_bust(replace(found, level=None), 0, picture, BustOptions(style=style))
        # Where nothing was read the levelled bust is the same solid: not built twice.
        levelled = as_photo if found.camera_roll_rad == 0.0 else photo_bust(found, 0, picture, BustOptions(style=style))
        return found, *(trimesh.Trimesh(b.mesh.vertices, b.mesh.faces) for b in (as_photo, levelled))

    _, upright_as_photo, upright_levelled = busts(turned_photo(image, 0.0))
    rows = []
    for lean in leans_deg:
        found, as_photo, levelled = busts(turned_photo(image, lean))
        if as_photo is None or upright_as_photo is None:
            rows.append({"lean_deg": lean, "read_deg": None})
            continue
        rows.append({"lean_deg": lean, "read_deg": None if found.level is None else found.level.lean_deg,
                     "as_photo_mm": bust_distance_mm(upright_as_photo, as_photo),
                     "levelled_mm": bust_distance_mm(upright_levelled, levelled)})
    return rows


def whole_turned_photo(image: np.ndarray, turn_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """``image (H, W, 3)`` turned ``turn_deg`` counter-clockwise (as seen) about its centre onto a
    canvas large enough to hold all of it, the corners filled by repeating its edges; and the
    ``(2, 3)`` affine that maps the photo's pixels ``(x, y)`` to the turned one's."""
    import cv2

    height, width = image.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), turn_deg, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    turned_width, turned_height = int(height * sin + width * cos), int(height * cos + width * sin)
    turn[:, 2] += (turned_width - width) / 2, (turned_height - height) / 2
    return cv2.warpAffine(image, turn, (turned_width, turned_height), borderMode=cv2.BORDER_REPLICATE), turn


def landmark_gap(found_px: np.ndarray, upright_faces_px: list[np.ndarray], turn: np.ndarray) -> float:
    """How far a face found in a turned photo lies from the nearest face of the upright photo,
    turned alike: the median landmark distance in that face's widths (inf where there is none).
    ``found_px (N, >=2)``, each of ``upright_faces_px (N, >=2)``: landmarks in pixels; ``turn (2, 3)``:
    upright photo pixels to turned ones (``whole_turned_photo``)."""
    gaps = []
    for upright in upright_faces_px:
        expected = upright[:, :2] @ turn[:, :2].T + turn[:, 2]
        width = float(np.ptp(upright[:, 0]))
        gaps.append(float(np.median(np.linalg.norm(found_px[:, :2] - expected, axis=1))) / max(width, 1e-9))
    return min(gaps, default=float("inf"))


def turned_photo_sweep(photo, image: np.ndarray, turns_deg=SWEEP_TURNS_DEG) -> list[dict]:
    """For each turn in ``turns_deg``: ``{"turn_deg", "verdict", "gap", "score", "upside_down",
    "sideways"}`` (the last two: ``PhotoResult``'s).
    verdict: "right" where the largest face found in the whole photo so turned
    (``whole_turned_photo``) is one of the upright photo's faces (``landmark_gap`` within
    ``SWEEP_RIGHT_WITHIN``), "wrong" where it is not, "none" where no face is found (gap, score,
    upside_down and sideways None). ``photo``: a ``PhotoReconstructor``; the upright photo's faces
    are all it finds (``all_faces``); ``image (H, W, 3)`` is shrunk to ``SWEEP_LONGEST_PX`` first."""
    import cv2

    shrink = SWEEP_LONGEST_PX / max(image.shape[:2])
    if shrink < 1.0:
        image = cv2.resize(image, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    upright = [face.vertices_px for face in photo.run(image, all_faces=True).faces]
    rows = []
    for turn_deg in turns_deg:
        turned, turn = whole_turned_photo(image, turn_deg)
        found = photo.run(turned)
        if not found.faces:
            rows.append({"turn_deg": turn_deg, "verdict": "none", "gap": None, "score": None, "upside_down": None,
                         "sideways": None})
            continue
        gap = landmark_gap(found.faces[0].vertices_px, upright, turn)
        rows.append({"turn_deg": turn_deg, "verdict": "right" if gap <= SWEEP_RIGHT_WITHIN else "wrong",
                     "gap": gap, "score": float(found.faces[0].score), "upside_down": bool(found.upside_down),
                     "sideways": int(found.sideways)})
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    import cv2

    if argv is None:
        import sys

        argv = sys.argv[1:]
    if argv[:1] == ["distances"]:
        parser = argparse.ArgumentParser(prog="python -m realtime.tools.likeness distances",
                                         description="Distances between busts of different people and of one person.")
        parser.add_argument("photos", nargs="*", help="photos, one person each (the largest face)")
        parser.add_argument("--clip", action="append", default=[],
                            help="a video of one person ('demo': the built-in clip); repeatable")
        parser.add_argument("--style", default="bust")
        args = parser.parse_args(argv[1:])
        print(distances_report(*distinct_people(args.photos, args.clip, style=args.style)))
        return 0
    if argv[:1] == ["crown"]:
        from realtime.stages.imagefile import load_image
        from realtime.stages.photo import PhotoReconstructor

        parser = argparse.ArgumentParser(prog="python -m realtime.tools.likeness crown",
                                         description="Busts of photos cut at the face's top against the whole photos'.")
        parser.add_argument("photos", nargs="+")
        parser.add_argument("--style", default="bust")
        args = parser.parse_args(argv[1:])
        with PhotoReconstructor() as photo:
            for path in args.photos:
                agreement = cut_crown_agreement(photo, load_image(path), args.style)
                print(f"{path}: " + ("no face" if agreement is None else
                                     "above the cut: IoU %.3f, area %.2f of the whole photo's" % agreement))
        return 0
    if argv[:1] == ["askew"]:
        from realtime.stages.imagefile import load_image
        from realtime.stages.photo import PhotoReconstructor

        parser = argparse.ArgumentParser(prog="python -m realtime.tools.likeness askew",
                                         description="Busts of photos turned as a camera held askew would, on the "
                                                     "photo's up and levelled, against the upright photos'.")
        parser.add_argument("photos", nargs="+")
        parser.add_argument("--leans", default="-20,-10,10,20", help="the turns, degrees (tops to the right when positive)")
        parser.add_argument("--style", default="bust")
        args = parser.parse_args(argv[1:])
        leans = [float(value) for value in args.leans.split(",")]
        rows = []
        with PhotoReconstructor() as photo:
            for path in args.photos:
                found = askew_distances(photo, load_image(path), leans, args.style)
                rows += [row for row in found if "as_photo_mm" in row]
                print(f"{path}: " + "; ".join(
                    f"{row['lean_deg']:+g}: no face" if "as_photo_mm" not in row else
                    f"{row['lean_deg']:+g}: {row['as_photo_mm']:.2f} -> {row['levelled_mm']:.2f} mm (read "
                    + ("-" if row["read_deg"] is None else f"{row['read_deg']:+.1f}") + ")" for row in found))
        read = [row for row in rows if row["read_deg"] is not None]
        mean = lambda key, chosen: float(np.mean([row[key] for row in chosen])) if chosen else float("nan")  # noqa: E731
        print(f"read {len(read)} of {len(rows)}: {mean('as_photo_mm', read):.2f} -> {mean('levelled_mm', read):.2f} mm; "
              f"all: {mean('as_photo_mm', rows):.2f} -> {mean('levelled_mm', rows):.2f} mm")
        return 0
    if argv[:1] == ["turned"]:
        import json
        from collections import Counter

        from realtime.stages.imagefile import load_image
        from realtime.stages.photo import PhotoOptions, PhotoReconstructor

        parser = argparse.ArgumentParser(prog="python -m realtime.tools.likeness turned",
                                         description="Whole photos turned by angles up to a full turn: is the face "
                                                     "found the upright photo's?")
        parser.add_argument("photos", nargs="+")
        parser.add_argument("--turns", default=",".join(str(turn) for turn in SWEEP_TURNS_DEG),
                            help="degrees, counter-clockwise as the photo is seen")
        parser.add_argument("--json", help="write every photo's rows here too")
        args = parser.parse_args(argv[1:])
        turns = [float(value) for value in args.turns.split(",")]
        every, counts = {}, Counter()
        # The face search alone: the person's mask and the level do not change which face is found.
        with PhotoReconstructor(PhotoOptions(segment=False, level=False)) as photo:
            for path in args.photos:
                every[path] = rows = turned_photo_sweep(photo, load_image(path), turns)
                counts.update(row["verdict"] for row in rows)
                print(f"{path}: " + " ".join(f"{row['turn_deg']:g}:{row['verdict']}" for row in rows))
        print(f"{sum(counts.values())} turned photos: {counts['right']} right, {counts['wrong']} wrong, "
              f"{counts['none']} no face")
        if args.json:
            from realtime.fileio import write_text_atomic

            write_text_atomic(args.json, json.dumps(every, indent=1))
        return 0
    parser = argparse.ArgumentParser(prog="python -m realtime.tools.likeness",
                                     description="Contact sheet: photos, the busts' fit over them, the busts from three sides.")
    parser.add_argument("out", help="the sheet, .png")
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--style", default="bust")
    args = parser.parse_args(argv)
    cv2.imwrite(args.out, contact_sheet(args.photos, args.style))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
