"""Print checks and atomic, validated export of a solid to STL, 3MF, OBJ (+ texture) or GLB.

In: a ``trimesh.Trimesh`` in millimetres (Z up, base on Z = 0), optionally a textured copy.
Out: ``print_checks`` -> a dict of facts a slicer cares about; ``write_solid`` -> the path of a
file that was written to a temporary name in the target folder, re-loaded and checked, and only
then renamed over the target (``os.replace``), so a failed export never leaves a bad file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np
import trimesh

from realtime.errors import InputError, Selfie3DError
from realtime.fileio import atomic_output

FORMATS = ("stl", "3mf", "obj", "glb")
"""Export formats; STL is binary."""
VOLUME_RTOL = 1e-3
"""Relative volume change allowed between the solid and the file re-loaded from disk (float32
vertex storage in STL/3MF moves each vertex by ~1e-6 relative)."""
BASE_Z_TOL_MM = 1e-3
"""How far the lowest vertex may sit from Z = 0 and still count as 'on the bed'."""
WALL_PROBE_COUNT = 400
"""Surface points probed by the wall-thickness estimate (rays cast inward along the normal)."""
WALL_OPPOSITE_COS = 0.5
"""A ray hit counts as the far side of a wall when its normal is within 60 degrees of opposite."""
WALL_PROBE_REACH_MM = 10.0
WALL_PERCENTILE = 2.0
"""The estimate is this percentile of the probed thicknesses, not their minimum: where a wall meets
the bed or a rim at an acute angle every ray-based thickness tends to zero at the corner itself."""
"""Longest inward ray of the wall estimate; thicker walls are reported as this value."""


def infer_format(path: Path, fmt: str | None) -> str:
    """The export format: ``fmt`` if given, else from the file extension; ``InputError`` otherwise."""
    name = (fmt or Path(path).suffix.lstrip(".")).lower()
    if name not in FORMATS:
        raise InputError(f"unknown print format {name!r} for {path}: use one of {', '.join(FORMATS)}")
    return name


def min_wall_mm(mesh: trimesh.Trimesh, count: int = WALL_PROBE_COUNT, seed: int = 0) -> float:
    """Estimate the thinnest wall, mm: the shortest inward ray hit from sampled surface points.

    Rays start a hair inside each sampled face centre and run along the inward normal; the
    distance to the first surface hit, when that surface faces back (an opposite wall), is the
    local thickness there (manifold3d's ray caster). Engraving islands count as walls too.
    """
    import manifold3d

    rng = np.random.default_rng(seed)
    picks = rng.choice(len(mesh.faces), size=min(count, len(mesh.faces)), replace=False, p=mesh.area_faces / mesh.area)
    solid = manifold3d.Manifold(
        manifold3d.Mesh(np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.uint32))
    )
    start_offset = 1e-4
    found = []
    for origin, normal in zip(mesh.triangles_center[picks], mesh.face_normals[picks]):
        start = origin - normal * start_offset
        hits = solid.ray_cast(tuple(start), tuple(start - normal * WALL_PROBE_REACH_MM))
        for hit in hits:
            d = float(np.linalg.norm(np.asarray(hit.position, dtype=np.float64) - start))
            if d <= start_offset:
                continue
            # Only an opposite wall counts: a ray that leaves through a neighbouring face at an
            # edge or rim measures the corner, not the wall.
            if np.dot(np.asarray(hit.normal, dtype=np.float64), normal) < -WALL_OPPOSITE_COS:
                found.append(d + start_offset)
            break
    if not found:
        return WALL_PROBE_REACH_MM
    return float(min(np.percentile(found, WALL_PERCENTILE), WALL_PROBE_REACH_MM))


def print_checks(mesh: trimesh.Trimesh, up_axis: int = 2, wall: bool = True) -> dict:
    """Facts about a solid in mm: watertight, winding_consistent, volume_mm3, shells, min_z,
    height_mm (extent along ``up_axis``: 2 = Z for busts and masks, 1 = Y for a flat plaque),
    size_mm (x, y, z), triangles, min_wall_mm (estimate, or None when ``wall`` is False)."""
    extent = mesh.bounds[1] - mesh.bounds[0]
    return {
        "watertight": bool(mesh.is_watertight),
        "winding_consistent": bool(mesh.is_winding_consistent),
        "volume_mm3": float(mesh.volume),
        "shells": int(len(mesh.split(only_watertight=False))),
        "min_z": float(mesh.bounds[0][2]),
        "height_mm": float(extent[up_axis]),
        "size_mm": tuple(float(e) for e in extent),
        "triangles": int(len(mesh.faces)),
        "min_wall_mm": min_wall_mm(mesh) if wall else None,
    }


def check_printable(checks: dict) -> None:
    """Raise ``Selfie3DError`` naming the first failed print check."""
    if not checks["watertight"]:
        raise Selfie3DError("the solid is not watertight")
    if not checks["winding_consistent"]:
        raise Selfie3DError("the solid's faces are not consistently wound")
    if not checks["volume_mm3"] > 0:
        raise Selfie3DError(f"the solid has a non-positive volume ({checks['volume_mm3']:.1f} mm3)")
    if checks["shells"] != 1:
        raise Selfie3DError(f"the solid has {checks['shells']} separate shells, not one")
    if abs(checks["min_z"]) > BASE_Z_TOL_MM:
        raise Selfie3DError(f"the base is not on Z = 0 (lowest point {checks['min_z']:.3f} mm)")


def stored_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """``mesh`` as an STL or 3MF file holds it: float32 vertices.

    A boolean can leave two vertices a few nanometres apart; float32 (spacing ~4e-6 mm at
    50 mm) makes them one point, their shared edge collapses, and the triangles on it become
    zero-area slivers whose edges are then used four times: the file no longer loads as a
    closed solid although the mesh in memory was one (a live snapshot failed so, 1 in 18).
    Rounding first, merging the points that became equal and dropping the collapsed and
    duplicated triangles writes the closed solid the file can hold. Returns a new mesh.
    """
    stored = trimesh.Trimesh(np.asarray(mesh.vertices, dtype=np.float32).astype(np.float64),
                             np.asarray(mesh.faces), process=False)
    stored.merge_vertices()
    stored.update_faces(_with_three_corners(stored.faces))
    stored.update_faces(stored.unique_faces())
    stored.remove_unreferenced_vertices()
    return stored


def _with_three_corners(faces: np.ndarray) -> np.ndarray:
    """``(m,) bool``: the faces whose three corners are three different vertices. Only these
    collapse-made faces go; a thin but real sliver must stay, or the solid opens where it was
    (trimesh's ``nondegenerate_faces`` drops those too, by height)."""
    faces = np.asarray(faces)
    return (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])


def _validate_file(path: Path, fmt: str, reference: trimesh.Trimesh, name: str) -> None:
    loaded = trimesh.load(str(path), file_type=fmt, force="mesh", process=False)
    if fmt in ("obj", "glb"):
        # Texture seams split vertices; merge by position to check the solid underneath (the
        # textured copy keeps its own vertices, so float32 can collapse a sliver there too:
        # zero-area triangles do not open the solid).
        loaded = trimesh.Trimesh(loaded.vertices, loaded.faces, process=False)
        loaded.merge_vertices(merge_tex=True, merge_norm=True)
        loaded.update_faces(_with_three_corners(loaded.faces))
    else:
        loaded.merge_vertices()
    if not loaded.is_watertight or not loaded.is_winding_consistent:
        raise Selfie3DError(f"{name}: the written {fmt.upper()} does not load back as a closed solid")
    if not np.isclose(loaded.volume, reference.volume, rtol=VOLUME_RTOL):
        raise Selfie3DError(
            f"{name}: volume changed on the round trip ({reference.volume:.1f} -> {loaded.volume:.1f} mm3)"
        )


def _encode(mesh: trimesh.Trimesh, textured: trimesh.Trimesh | None, fmt: str, stem: str) -> dict[str, bytes]:
    """File name suffix -> bytes; OBJ brings its material and texture along."""
    if fmt == "stl":
        return {".stl": trimesh.exchange.stl.export_stl(mesh)}
    if fmt == "3mf":
        try:
            return {".3mf": trimesh.exchange.threemf.export_3MF(mesh)}
        except ImportError as error:  # trimesh's 3MF writer needs lxml
            raise Selfie3DError(f"3MF export needs the lxml package ({error}); pip install lxml") from error
    source = textured if textured is not None else mesh
    if fmt == "glb":
        return {".glb": trimesh.exchange.gltf.export_glb(trimesh.Scene(source))}
    files = trimesh.exchange.obj.export_obj(source, include_texture=True, return_texture=True, mtl_name=f"{stem}.mtl")
    if isinstance(files, tuple):
        text, extras = files
    else:
        text, extras = files, {}
    out = {".obj": text.encode() if isinstance(text, str) else text}
    # trimesh names the texture after the material ("material_0.png"); name it after the OBJ so
    # two exports in one folder do not share (and overwrite) one texture.
    renames = {name: f"{stem}{Path(name).suffix}" for name in extras if not name.endswith(".mtl")}
    for name, data in extras.items():
        if name.endswith(".mtl"):
            text_mtl = data.decode()
            for old, new in renames.items():
                text_mtl = text_mtl.replace(old, new)
            out["/" + f"{stem}.mtl"] = text_mtl.encode()
        else:
            out["/" + renames[name]] = data
    return out


def write_solid(
    mesh: trimesh.Trimesh,
    path: str | os.PathLike,
    fmt: str | None = None,
    textured: trimesh.Trimesh | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``mesh`` (mm) atomically and validated; returns the final path.

    Every file goes through ``realtime.fileio.atomic_output``: written to a temporary name in
    the target folder; the main file is re-loaded and checked (closed, same volume) while all
    are still temporary, then they are moved into place, the main file last. An existing
    target raises ``InputError`` unless ``overwrite``. OBJ also writes ``<stem>.mtl`` and the
    texture image beside it when ``textured`` carries one.
    """
    path = Path(path)
    fmt = infer_format(path, fmt)
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists; pass --overwrite to replace it or choose another name")
    if not path.parent.is_dir():
        raise InputError(f"folder {path.parent} does not exist")
    if fmt in ("stl", "3mf"):
        mesh = stored_mesh(mesh)
    payload = _encode(mesh, textured, fmt, path.stem)
    finals = {suffix: path.parent / suffix[1:] if suffix.startswith("/") else path for suffix in payload}
    with contextlib.ExitStack() as stack:
        # Contexts close in reverse: entering the main file first moves it into place last, so
        # an OBJ never appears before its material and texture.
        temps: list[tuple[Path, Path]] = []
        for suffix in sorted(payload, key=lambda key: finals[key] != path):
            temp = stack.enter_context(atomic_output(finals[suffix], overwrite=overwrite))
            temp.write_bytes(payload[suffix])
            temps.append((temp, finals[suffix]))
        if fmt == "obj":
            # The loader resolves the material by name next to the OBJ: check a renamed copy set.
            _validate_obj(temps, path)
        else:
            _validate_file(temps[0][0], fmt, mesh, path.name)
    return path


def _validate_obj(temps: list[tuple[Path, Path]], path: Path) -> None:
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".check-") as folder:
        for tmp, final in temps:
            os.link(tmp, Path(folder) / final.name) if hasattr(os, "link") else None
        loaded = trimesh.load(str(Path(folder) / path.name), force="mesh", process=False)
        solid = trimesh.Trimesh(loaded.vertices, loaded.faces, process=False)
        solid.merge_vertices(merge_tex=True, merge_norm=True)
        solid.update_faces(_with_three_corners(solid.faces))  # as in _validate_file
        if not solid.is_watertight:
            raise Selfie3DError(f"{path.name}: the written OBJ does not load back as a closed solid")
