"""The seam between accessories and the renderer: meshes, materials and posed parts.

An accessory (glasses, a headband, ...) is fitted to a face outside the renderer: ``fit(proxy)``
turns the head proxy of the fused face (``realtime.accessories.head_proxy.HeadProxy``, camera
space, mm) into ``PosedPart``s, each a static mesh in the accessory's own frame, the chain of
transforms that places it in camera space and the material it is shaded with. The renderer
draws any list of posed parts the same way (opaque parts first, then transparent ones), keeps
each mesh on the GPU keyed by the mesh itself, and never knows which accessory it draws.

Pure numpy; no GL here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:
    from realtime.accessories.head_proxy import HeadProxy


@dataclass(frozen=True, eq=False)
class MeshPart:
    """One drawable piece: ``vertices (n, 3) float32`` mm, ``normals (n, 3) float32`` unit,
    ``triangles (m, 3) int32``. Compared by identity: the renderer keeps one GPU copy per part."""

    vertices: np.ndarray
    normals: np.ndarray
    triangles: np.ndarray


@dataclass(frozen=True)
class Material:
    """How a part is shaded. ``kind``: "opaque" (lit, Blinn-Phong: ``color`` linear RGB 0..1,
    ``metal`` for a tinted specular with an environment reflection, ``shininess`` its exponent)
    or "transparent" (a Fresnel lens: ``tint`` linear RGB, ``opacity`` its face-on absorption,
    0 clear .. 1 opaque, drawn after every opaque part without writing depth)."""

    kind: str = "opaque"
    color: tuple[float, float, float] = (0.5, 0.5, 0.5)
    metal: bool = False
    shininess: float = 32.0
    tint: tuple[float, float, float] = (0.0, 0.0, 0.0)
    opacity: float = 0.0
    # Normal-incidence reflectance of a transparent part, where its Fresnel term starts: glass
    # or CR-39 lenses (n ~ 1.5) reflect 4%.
    fresnel_f0: float = 0.04

    def __post_init__(self):
        if self.kind not in MATERIAL_KINDS:
            raise ValueError(f"material kind {self.kind!r}: one of {', '.join(MATERIAL_KINDS)}")


MATERIAL_KINDS = ("opaque", "transparent")


@dataclass(frozen=True)
class PosedPart:
    """A mesh placed in camera space: ``transforms`` is a chain of ``(4, 4) float64`` matrices
    (part frame -> ... -> camera space, OpenCV axes, mm), applied right to left, so
    ``camera = transforms[0] @ transforms[1] @ ... @ point`` (a temple: the glasses' pose, then
    its swing about the hinge). ``role``: what the part is, for tests and tools ("front", "lens"...)."""

    mesh: MeshPart
    material: Material
    transforms: tuple[np.ndarray, ...] = field(default_factory=lambda: (np.eye(4),))
    role: str = ""

    @property
    def model(self) -> np.ndarray:
        """The part frame -> camera transform, ``(4, 4) float64``."""
        matrix = np.asarray(self.transforms[0], np.float64)
        for step in self.transforms[1:]:
            matrix = matrix @ np.asarray(step, np.float64)
        return matrix

    def model_f32(self) -> np.ndarray:
        """The same transform as the GPU takes it, ``(4, 4) float32``: the chain multiplied in
        float32, as the shader's uniforms hold it."""
        matrix = np.asarray(self.transforms[0]).astype(np.float32)
        for step in self.transforms[1:]:
            matrix = matrix @ np.asarray(step).astype(np.float32)
        return matrix


class Accessory(Protocol):
    """Something worn: ``name`` (what ``--accessory`` and the G key call it), ``label`` (what the
    HUD shows beside the name), and ``fit``, which poses its parts on a head."""

    name: str
    label: str

    def fit(self, proxy: "HeadProxy") -> tuple[PosedPart, ...]:
        ...


def box_corners(vertices: np.ndarray) -> np.ndarray:
    """The 8 corners ``(8, 4)`` (homogeneous) of the axis-aligned box of ``vertices (n, 3)``."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    return np.array([[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def parts_points_mm(parts: Sequence[PosedPart]) -> np.ndarray:
    """Camera-space corners ``(8 k, 3)`` mm of the boxes around ``parts`` as posed: their
    projection bounds what the parts cover on screen (empty ``(0, 3)`` for no parts)."""
    if not parts:
        return np.zeros((0, 3))
    return np.concatenate([(box_corners(part.mesh.vertices) @ part.model.T)[:, :3] for part in parts])
