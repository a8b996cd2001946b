"""realtime/printing/export.py: what is written is the closed solid that was checked."""

import numpy as np
import pytest
import trimesh

from realtime.printing.export import stored_mesh, write_solid


def _solid_with_a_float32_sliver() -> trimesh.Trimesh:
    """A closed sphere (mm, on Z = 0) with one edge shortened to a few nanometres: closed in
    float64, but the edge's two ends are one point in float32, as a boolean can leave them."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=20.0)
    sphere.apply_translation((0.0, 0.0, 20.0 - sphere.vertices[:, 2].min()))
    a, b = sphere.edges_unique[0]
    vertices = sphere.vertices.copy()
    vertices[a] = vertices[a].astype(np.float32)  # a point float32 holds exactly...
    # ...and one a quarter of float32's spacing away from it: distinct in float64 only.
    vertices[b] = vertices[a] + 0.25 * np.spacing(vertices[a].astype(np.float32)).astype(np.float64)
    return trimesh.Trimesh(vertices, sphere.faces, process=False)


def test_the_sliver_is_closed_in_memory_and_open_in_float32_without_the_fix():
    solid = _solid_with_a_float32_sliver()
    assert solid.is_watertight
    naive = trimesh.Trimesh(solid.vertices.astype(np.float32).astype(np.float64), solid.faces, process=False)
    naive.merge_vertices()
    assert not naive.is_watertight  # what a plain float32 STL of it loads back as


@pytest.mark.parametrize("fmt", ["stl", "3mf"])
def test_written_file_loads_back_closed(tmp_path, fmt):
    solid = _solid_with_a_float32_sliver()
    path = write_solid(solid, tmp_path / f"ball.{fmt}")
    loaded = trimesh.load(str(path), file_type=fmt, force="mesh")
    loaded.merge_vertices()
    assert loaded.is_watertight and loaded.is_winding_consistent
    assert loaded.volume == pytest.approx(solid.volume, rel=1e-3)


def test_stored_mesh_drops_only_the_collapsed_triangles():
    solid = _solid_with_a_float32_sliver()
    stored = stored_mesh(solid)
    assert stored.is_watertight
    assert len(stored.faces) == len(solid.faces) - 2  # the two triangles on the collapsed edge
    assert len(stored.vertices) == len(solid.vertices) - 1

