"""Print checks and atomic, validated export of a solid to STL, 3MF, OBJ (+ material, texture) or GLB.

In: a ``trimesh.Trimesh`` in millimetres (Z up, base on Z = 0), optionally a textured copy (the
same surface, its vertices split where the texture has a seam). Out: ``print_checks`` -> a dict
of facts a slicer cares about; ``write_solid`` -> the path of a file that was written to a
temporary name in the target folder, read back and checked, and only then renamed over the
target, so a failed or interrupted export never leaves a bad or partial file. STL, 3MF and OBJ
are print files: millimetres, Z up, and their positions as stored index one closed shell (OBJ
keeps positions welded and gives texture seams their own ``vt`` indices). GLB is a viewing file
in glTF's convention, metres and +Y up; glTF gives every vertex one texture coordinate, so a
textured GLB repeats the positions along texture seams and is closed only once they are merged.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import trimesh

from realtime.errors import InputError, Selfie3DError
from realtime.fileio import atomic_output

from realtime.printing.vocabulary import FORMATS  # noqa: E402,F401  (re-exported)
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
"""Longest inward ray of the wall estimate; thicker walls are reported as this value."""
WALL_PERCENTILE = 2.0
"""The estimate is this percentile of the probed thicknesses, not their minimum: where a wall meets
a rim at an acute angle every ray-based thickness tends to zero at the corner itself."""
WALL_BED_MIN_FACING = 0.9
"""A ray that reaches the bed (the solid's flat bottom at its lowest Z) measures a wall only from a
surface facing up within ~ 26 degrees (the vertical part of its normal at least this): a plate
lying on the bed, probed from its top (or its top, reached from the bed). Between the bed and a
surface at a slant or a side, a ray measures the wedge where that surface comes down to the bed,
which the bed holds up and a slicer lays as the first layers' outline: not a wall. (obama3's bust,
cut 12.6 mm under its shoulders' rounded tops, reported a 0.54 mm wall: every probe under 1.9 mm
was such a wedge, its surface facing 0.67 up, its ray 0.2-1.6 mm to the bed.)"""
TEXTURE_SUFFIX = "_texture.png"
"""The OBJ's texture is ``<stem>_texture.png``: plain ``<stem>.png`` is what a user's photo is often
called, and ``-o folder/`` names the OBJ after the photo."""
OBJ_MATERIAL = "photo"
"""Name of the one material the OBJ's ``usemtl`` and the ``.mtl``'s ``newmtl`` share."""
OBJ_FLOAT = "%.9g"
"""OBJ numbers: 9 significant digits give every float32 back exactly (positions are stored as
float32 values, the precision a slicer reads them in)."""
_V = f"v {OBJ_FLOAT} {OBJ_FLOAT} {OBJ_FLOAT}\n"
_VT = f"vt {OBJ_FLOAT} {OBJ_FLOAT}\n"
GLB_M_PER_MM = 1e-3
"""glTF's unit is the metre; the solid is in millimetres."""
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""(x, y, z) -> (x, z, -y): the print frame's +Z (up) becomes glTF's +Y and the face, which looks
along -Y on the build plate, looks along glTF's +Z (an asset's front). A rotation (det = +1),
so triangle winding and outward normals are kept."""
GLB_ROUGHNESS = 0.9
"""A matte skin-like surface for glTF viewers (glTF's default, metallic 1, would look like metal)."""


def infer_format(path: Path, fmt: str | None) -> str:
    """The export format: ``fmt`` if given, else from the file extension; ``InputError`` otherwise."""
    name = (fmt or Path(path).suffix.lstrip(".")).lower()
    if name not in FORMATS:
        raise InputError(f"unknown print format {name!r} for {path}: use one of {', '.join(FORMATS)}")
    return name


def _on_bed(point: np.ndarray, normal: np.ndarray, bed_z: float) -> bool:
    """Whether a surface point ``(3,)`` with unit ``normal (3,)`` is on the bed: the solid's flat
    bottom at ``bed_z``, facing straight down."""
    return bool(point[2] <= bed_z + BASE_Z_TOL_MM and normal[2] < -0.999)


def min_wall_mm(mesh: trimesh.Trimesh, count: int = WALL_PROBE_COUNT, seed: int = 0) -> float:
    """Estimate the thinnest wall, mm: the shortest inward ray hit from sampled surface points.

    Rays start a hair inside each sampled face centre and run along the inward normal; the
    distance to the first surface hit, when that surface faces back (an opposite wall), is the
    local thickness there (manifold3d's ray caster). Engraving islands count as walls too; the bed
    under a slanting surface does not (``WALL_BED_MIN_FACING``).
    """
    import manifold3d

    rng = np.random.default_rng(seed)
    picks = rng.choice(len(mesh.faces), size=min(count, len(mesh.faces)), replace=False, p=mesh.area_faces / mesh.area)
    solid = manifold3d.Manifold(
        manifold3d.Mesh(np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.uint32))
    )
    start_offset = 1e-4
    bed_z = float(mesh.bounds[0][2])
    found = []
    for origin, normal in zip(mesh.triangles_center[picks], mesh.face_normals[picks]):
        start = origin - normal * start_offset
        hits = solid.ray_cast(tuple(start), tuple(start - normal * WALL_PROBE_REACH_MM))
        for hit in hits:
            position = np.asarray(hit.position, dtype=np.float64)
            d = float(np.linalg.norm(position - start))
            if d <= start_offset:
                continue
            hit_normal = np.asarray(hit.normal, dtype=np.float64)
            # Only an opposite wall counts: a ray that leaves through a neighbouring face at an
            # edge or rim measures the corner, not the wall; nor does a ray between the bed and a
            # slanting surface, from either end (the wedge where that surface meets the bed).
            if np.dot(hit_normal, normal) < -WALL_OPPOSITE_COS and not (
                    _on_bed(position, hit_normal, bed_z) and normal[2] < WALL_BED_MIN_FACING
                    or _on_bed(origin, normal, bed_z) and hit_normal[2] < WALL_BED_MIN_FACING):
                found.append(d + start_offset)
            break
    if not found:
        return WALL_PROBE_REACH_MM
    return float(min(np.percentile(found, WALL_PERCENTILE), WALL_PROBE_REACH_MM))


def shell_count(mesh: trimesh.Trimesh) -> int:
    """How many pieces ``mesh`` falls into, faces joined where they share an edge (as
    ``mesh.split`` counts them, without building each piece: a third of its time)."""
    faces = np.arange(len(mesh.faces))
    return len(trimesh.graph.connected_components(mesh.face_adjacency, nodes=faces, min_len=1))


def print_checks(mesh: trimesh.Trimesh, up_axis: int = 2, wall: bool = True) -> dict:
    """Facts about a solid in mm: watertight, winding_consistent, volume_mm3, shells, min_z,
    height_mm (extent along ``up_axis``: 2 = Z for busts and masks, 1 = Y for a flat plaque),
    size_mm (x, y, z), triangles, min_wall_mm (estimate, or None when ``wall`` is False)."""
    extent = mesh.bounds[1] - mesh.bounds[0]
    return {
        "watertight": bool(mesh.is_watertight),
        "winding_consistent": bool(mesh.is_winding_consistent),
        "volume_mm3": float(mesh.volume),
        "shells": shell_count(mesh),
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


def _welded(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions as a float32 reader holds them, one per point.

    vertices: ``(n, 3) float`` mm, possibly repeated (texture seams) or a float32 step apart.
    faces: ``(m, 3) int`` into ``vertices``.
    Returns ``positions (k, 3) float64`` (float32 values, mm, each point once), ``welded (m, 3)
    int64`` (``faces`` re-indexed into ``positions``) and ``keep (m,) bool``: the faces still
    spanning three points and not repeating an earlier face (as ``stored_mesh`` drops them).
    """
    rounded = np.asarray(vertices, dtype=np.float32)
    positions, inverse = np.unique(rounded, axis=0, return_inverse=True)
    welded = inverse.reshape(-1)[np.asarray(faces)]
    keep = _with_three_corners(welded)
    _, first = np.unique(np.sort(welded, axis=1), axis=0, return_index=True)
    repeated = np.ones(len(welded), dtype=bool)
    repeated[first] = False
    return positions.astype(np.float64), welded, keep & ~repeated


def _texture_of(textured: trimesh.Trimesh) -> tuple[np.ndarray, object]:
    """``(uv (n, 2) float64, PIL image)`` of a textured copy; ``Selfie3DError`` if it lacks either,
    so a broken copy fails the export instead of quietly writing an untextured file."""
    visual = textured.visual
    uv = getattr(visual, "uv", None)
    material = getattr(visual, "material", None)
    image = getattr(material, "image", None)
    if image is None:  # a PBR material keeps it elsewhere
        image = getattr(material, "baseColorTexture", None)
    if uv is None or np.shape(uv) != (len(textured.vertices), 2) or image is None:
        raise Selfie3DError("the textured copy has no texture coordinates or no image; nothing was written")
    return np.asarray(uv, dtype=np.float64), image


def _png(image) -> bytes:
    """PNG bytes of a PIL image."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _rows(line: str, values: np.ndarray) -> str:
    """``line`` (a %-format with one field per column, ending in a newline) for each row of
    ``values (n, k)``, in one formatting pass."""
    values = np.asarray(values)
    return (line * len(values)) % tuple(values.ravel().tolist()) if len(values) else ""


def obj_companion_names(stem: str) -> tuple[str, str]:
    """The files a textured OBJ ``<stem>.obj`` brings: ``(material .mtl, texture .png)`` names."""
    return f"{stem}.mtl", f"{stem}{TEXTURE_SUFFIX}"


def obj_files(mesh: trimesh.Trimesh, textured: trimesh.Trimesh | None, name: str) -> dict[str, bytes]:
    """File name -> bytes of an OBJ export: ``name`` (the OBJ, ``<stem>.obj`` as a rule), and
    with a textured copy also ``<stem>.mtl`` and ``<stem>_texture.png``.

    Positions are written once each (float32 values, mm, Z up), welded across texture seams;
    faces are ``f v/vt`` so a seam only splits the texture coordinates and the positions index
    one closed shell, as a slicer needs. Everything is built in memory: no file is touched.
    """
    if textured is None:
        positions, welded, keep = _welded(mesh.vertices, mesh.faces)
        text = "# selfie3d: millimetres, Z up\n" + _rows(_V, positions) + _rows("f %d %d %d\n", welded[keep] + 1)
        return {name: text.encode()}
    stem = Path(name).stem
    uv, image = _texture_of(textured)
    positions, welded, keep = _welded(textured.vertices, textured.faces)
    uvs, uv_index = np.unique(uv, axis=0, return_inverse=True)
    uv_faces = uv_index.reshape(-1)[np.asarray(textured.faces)]
    corners = np.stack([welded[keep] + 1, uv_faces[keep] + 1], axis=2).reshape(-1, 6)
    mtl_name, texture_name = obj_companion_names(stem)
    text = (f"# selfie3d: millimetres, Z up\nmtllib {mtl_name}\n" + _rows(_V, positions)
            + _rows(_VT, uvs) + f"usemtl {OBJ_MATERIAL}\n" + _rows("f %d/%d %d/%d %d/%d\n", corners))
    # White diffuse and ambient: the photo is shown as it is (trimesh's default 0.4 darkens it).
    mtl = (f"# selfie3d: the photo as diffuse texture\nnewmtl {OBJ_MATERIAL}\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\n"
           f"d 1\nillum 1\nmap_Kd {texture_name}\n")
    return {name: text.encode(), mtl_name: mtl.encode(), texture_name: _png(image)}


def glb_bytes(mesh: trimesh.Trimesh, textured: trimesh.Trimesh | None) -> bytes:
    """A binary glTF of the textured copy (else of ``mesh``) in glTF's frame: metres, +Y up,
    the face toward +Z, base on Y = 0; the vertices themselves are converted, no node transform."""
    source = textured if textured is not None else mesh
    vertices = GLB_M_PER_MM * (np.asarray(source.vertices, dtype=np.float64) @ Z_UP_TO_Y_UP.T)
    visual = None
    if textured is not None:
        uv, image = _texture_of(textured)
        material = trimesh.visual.material.PBRMaterial(
            name=OBJ_MATERIAL, baseColorTexture=image, baseColorFactor=[255, 255, 255, 255],
            metallicFactor=0.0, roughnessFactor=GLB_ROUGHNESS)
        visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    moved = trimesh.Trimesh(vertices, np.asarray(source.faces), visual=visual, process=False)
    return trimesh.exchange.gltf.export_glb(trimesh.Scene(moved))


def _encode(mesh: trimesh.Trimesh, textured: trimesh.Trimesh | None, fmt: str, name: str) -> dict[str, bytes]:
    """File name -> bytes: the main file ``name`` and, for OBJ, its companions."""
    if fmt == "stl":
        return {name: trimesh.exchange.stl.export_stl(mesh)}
    if fmt == "3mf":
        try:
            return {name: trimesh.exchange.threemf.export_3MF(mesh)}
        except ImportError as error:  # trimesh's 3MF writer needs lxml
            raise Selfie3DError(f"3MF export needs the lxml package ({error}); pip install lxml") from error
    if fmt == "glb":
        return {name: glb_bytes(mesh, textured)}
    return obj_files(mesh, textured, name)


def _closed(solid: trimesh.Trimesh, reference_volume: float, what: str) -> None:
    """``Selfie3DError`` unless ``solid`` is one closed, consistently wound shell whose volume
    is ``reference_volume`` (same unit cubed) within ``VOLUME_RTOL``."""
    if not solid.is_watertight or not solid.is_winding_consistent:
        raise Selfie3DError(f"{what} does not load back as a closed solid")
    if solid.body_count != 1:
        raise Selfie3DError(f"{what} has {solid.body_count} separate shells, not one")
    if not np.isclose(solid.volume, reference_volume, rtol=VOLUME_RTOL):
        raise Selfie3DError(f"{what}: volume changed on the round trip ({reference_volume:.4g} -> {solid.volume:.4g})")


def _validate_file(path: Path, fmt: str, reference: trimesh.Trimesh, name: str) -> None:
    """STL or 3MF: positions are merged on load (STL stores none shared), then checked."""
    loaded = trimesh.load(str(path), file_type=fmt, force="mesh", process=False)
    loaded.merge_vertices()
    _closed(loaded, reference.volume, f"{name}: the written {fmt.upper()}")


def check_glb(data: bytes, reference: trimesh.Trimesh, textured: bool, name: str) -> None:
    """Check GLB bytes against the solid ``reference`` (mm, Z up): metres, +Y up, base on Y = 0,
    the same height and volume, closed once positions repeated along texture seams are merged
    (glTF cannot share them), and textured when ``textured``. ``Selfie3DError`` otherwise."""
    scene = trimesh.load(io.BytesIO(data), file_type="glb", process=False)
    loaded = scene.to_mesh() if isinstance(scene, trimesh.Scene) else scene
    what = f"{name}: the written GLB"
    if textured:
        material = getattr(loaded.visual, "material", None)
        if getattr(loaded.visual, "uv", None) is None or getattr(material, "baseColorTexture", None) is None:
            raise Selfie3DError(f"{what} has no texture")
    positions, welded, keep = _welded(loaded.vertices, loaded.faces)
    solid = trimesh.Trimesh(positions, welded[keep], process=False)
    _closed(solid, reference.volume * GLB_M_PER_MM**3, what)
    ref_height = (reference.bounds[1][2] - reference.bounds[0][2]) * GLB_M_PER_MM
    if abs(solid.bounds[0][1]) > BASE_Z_TOL_MM * GLB_M_PER_MM or not np.isclose(
            solid.bounds[1][1] - solid.bounds[0][1], ref_height, rtol=VOLUME_RTOL):
        raise Selfie3DError(f"{what} is not in metres with +Y up and its base on Y = 0")


def _obj_parts(text: str, name: str) -> dict:
    """The parts of an OBJ as ``obj_files`` writes it: ``positions (k, 3)``, ``uv (t, 2)``,
    ``faces (m, 3)`` and ``uv_faces (m, 3) or None`` (0-based), ``mtllib`` and ``usemtl`` names
    (or None). ``Selfie3DError`` for anything else (quads, indices out of range, mixed corners)."""
    rows: dict[str, list[str]] = {"v": [], "vt": [], "f": [], "mtllib": [], "usemtl": []}
    for line in text.splitlines():
        key, _, rest = line.strip().partition(" ")
        if key in rows:
            rows[key].append(rest.strip())
    try:
        positions = np.array(" ".join(rows["v"]).split(), dtype=np.float64).reshape(-1, 3)
        uv = np.array(" ".join(rows["vt"]).split(), dtype=np.float64).reshape(-1, 2)
        corners = " ".join(rows["f"]).split()
        if len(corners) != 3 * len(rows["f"]):
            raise ValueError("a face is not a triangle")
        parts = {corner.count("/") for corner in corners}
        if parts - {0, 1}:
            raise ValueError("corners other than v or v/vt")
        if len(parts) > 1:
            raise ValueError("some corners have texture coordinates and some not")
        index = np.array(" ".join(corners).replace("/", " ").split(), dtype=np.int64) - 1
        index = index.reshape(len(rows["f"]), 3, -1)
    except ValueError as error:
        raise Selfie3DError(f"{name}: the written OBJ cannot be read back ({error})") from None
    faces = index[:, :, 0]
    uv_faces = index[:, :, 1] if index.shape[2] == 2 else None
    if faces.size and (faces.min() < 0 or faces.max() >= len(positions)):
        raise Selfie3DError(f"{name}: the written OBJ has face indices outside its vertices")
    if uv_faces is not None and uv_faces.size and (uv_faces.min() < 0 or uv_faces.max() >= len(uv)):
        raise Selfie3DError(f"{name}: the written OBJ has texture indices outside its texture coordinates")
    return {"positions": positions, "uv": uv, "faces": faces, "uv_faces": uv_faces,
            "mtllib": rows["mtllib"][0] if rows["mtllib"] else None,
            "usemtl": rows["usemtl"][0] if rows["usemtl"] else None}


def check_obj(files: dict[str, bytes], obj_name: str, reference: trimesh.Trimesh, textured: bool) -> None:
    """Check an OBJ export as read back: ``files`` maps the final file names to their bytes.

    The positions and ``v`` indices as written, with no merging, must be one closed,
    consistently wound shell of ``reference``'s volume (mm). A textured OBJ must name its
    ``.mtl`` (present in ``files``), use the material that ``.mtl`` defines, give every corner a
    texture coordinate, and the ``.mtl``'s ``map_Kd`` must be an image in ``files`` that decodes.
    ``Selfie3DError`` names the first failure.
    """
    what = f"{obj_name}: the written OBJ"
    parts = _obj_parts(files[obj_name].decode("utf-8"), obj_name)
    _closed(trimesh.Trimesh(parts["positions"], parts["faces"], process=False), reference.volume, what)
    if not textured:
        return
    mtl_name = parts["mtllib"]
    if mtl_name is None or mtl_name not in files:
        raise Selfie3DError(f"{what} does not reference its material file ({Path(obj_name).stem}.mtl)")
    if parts["uv_faces"] is None or not len(parts["uv"]):
        raise Selfie3DError(f"{what} has no texture coordinates")
    materials: dict[str, str | None] = {}
    current = None
    for line in files[mtl_name].decode("utf-8").splitlines():
        key, _, rest = line.strip().partition(" ")
        if key == "newmtl":
            current = rest.strip()
            materials[current] = None
        elif key == "map_Kd" and current is not None:
            materials[current] = rest.strip()
    texture_name = materials.get(parts["usemtl"])
    if texture_name is None or texture_name not in files:
        raise Selfie3DError(f"{what}: its material {parts['usemtl']!r} has no texture image beside it")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(files[texture_name])) as image:
            image.load()
    except Exception as error:  # PIL raises several types for a damaged image
        raise Selfie3DError(f"{what}: its texture {texture_name} is not a readable image ({error})") from None


def write_solid(
    mesh: trimesh.Trimesh,
    path: str | os.PathLike,
    fmt: str | None = None,
    textured: trimesh.Trimesh | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``mesh`` (mm) atomically and validated; returns the final path.

    mesh: the closed solid, mm, Z up. textured: the same surface with texture coordinates and
    an image (OBJ and GLB carry it; STL and 3MF ignore it). All bytes are built in memory first;
    every file then goes through ``realtime.fileio.atomic_output`` (a temporary name in the
    target folder), is read back and checked while all are still temporary, and they are moved
    into place texture, material, main file last. If anything fails or is interrupted, the
    temporaries are removed and so are companions already moved into place by this call, so no
    OBJ stands without its material and no material without its OBJ. An existing target raises
    ``InputError`` unless ``overwrite``. OBJ also writes ``<stem>.mtl`` and
    ``<stem>_texture.png`` beside it when ``textured`` is given.
    """
    path = Path(path)
    fmt = infer_format(path, fmt)
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists; pass --overwrite to replace it or choose another name")
    if not path.parent.is_dir():
        raise InputError(f"folder {path.parent} does not exist")
    if fmt in ("stl", "3mf"):
        mesh = stored_mesh(mesh)
    main = path.name
    payload = _encode(mesh, textured, fmt, main)
    # Entered first, moved last (contexts close in reverse): main, material, texture.
    order = [main] + sorted((n for n in payload if n != main), key=lambda n: n.endswith(".mtl"), reverse=True)
    placed: dict[Path, tuple[int, int]] = {}  # companion -> (device, inode) of the file this call wrote
    try:
        with contextlib.ExitStack() as stack:
            temps: dict[str, Path] = {}
            for file_name in order:
                temp = stack.enter_context(atomic_output(path.parent / file_name, overwrite=overwrite))
                temp.write_bytes(payload[file_name])
                temps[file_name] = temp
                if file_name != main:
                    info = temp.stat()
                    placed[path.parent / file_name] = (info.st_dev, info.st_ino)
            if fmt == "obj":
                written = {file_name: temp.read_bytes() for file_name, temp in temps.items()}
                check_obj(written, main, mesh, textured is not None)
            elif fmt == "glb":
                check_glb(temps[main].read_bytes(), mesh, textured is not None, path.name)
            else:
                _validate_file(temps[main], fmt, mesh, path.name)
    except BaseException:
        # A rename (or Ctrl-C) between the companions and the main file: take back the
        # companions this call put in place (a rename keeps the inode), nothing else.
        for final, identity in placed.items():
            with contextlib.suppress(OSError):
                info = final.stat()
                if (info.st_dev, info.st_ino) == identity:
                    final.unlink()
        raise
    return path
