"""How different two busts are: the measure behind "two people must give visibly different busts".

In: two closed solids in the print frame (mm, Z up, base on Z = 0, facing -Y). Out: the RMS
surface distance between them after scaling both to the same height and aligning them (centroids,
then the turn about the vertical and the shift that best overlay them: a few rounds of
iterative closest points restricted to those), in mm at a reference height. Busts of one person
from different photos (another pose, light, crop) should be close; busts of different people far.
Development and benchmark use, and the acceptance tests; ``python -m realtime.tools.likeness OUT.png
PHOTO...`` draws the contact sheet of ``docs/likeness.png``: each photo, the bust's fit over it,
and the bust from three sides.
"""

from __future__ import annotations

import numpy as np

REFERENCE_HEIGHT_MM = 100.0
"""Both busts are scaled to this height before they are compared."""
SAMPLES = 20_000
"""Surface samples per bust (area-weighted): ~ 0.7 mm apart on a 100 mm bust."""
ICP_ROUNDS = 8
"""Alignment rounds (turn about Z and shift in X, Y)."""


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

    from realtime.printing.bust import BustOptions, build_bust
    from realtime.stages.imagefile import load_image
    from realtime.printing.overlay import photo_overlay
    from realtime.stages.photo import PhotoReconstructor
    from realtime.render import create_headless_context
    from realtime.render.preview import render_mesh_picture
    from realtime.topology import face_triangles

    rows = []
    ctx = create_headless_context()
    try:
        with PhotoReconstructor() as photo:
            for path in photos:
                image = load_image(path)
                found = photo.run(image)
                if not found.faces:
                    continue
                face = found.faces[0]
                bust = build_bust(face.vertices_mm, face_triangles(), BustOptions(style=style), image=image,
                                  vertices_px=face.vertices_px, person=found.persons[0] if found.persons else None)
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


def main(argv: list[str] | None = None) -> int:
    import argparse

    import cv2

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
