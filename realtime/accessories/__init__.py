"""What the try-on puts on a face: accessories fitted to the fused face, drawn by the renderer.

``head_proxy`` extends the fused face to a closed head (the occluder, and what accessories rest
on); ``parts`` is the seam: an accessory's ``fit(proxy)`` returns posed parts (mesh, material,
transforms) that the renderer draws without knowing what they are. ``glasses`` (the optician's
frame library and user models) and ``headband`` are the accessories.

Adding one: a module here with its accessory class (``name``, ``label``, ``fit``) and a
``library()`` that returns its instances, one line in ``ACCESSORY_MODULES``, and its test.
``dress`` fits the chosen accessory to a fused face for the renderer.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from realtime.accessories.head_proxy import HeadProxy, build_head_proxy, fused_vertices
from realtime.accessories.parts import Accessory, PosedPart

# The accessory modules, in the order the live window's G key cycles through their accessories.
ACCESSORY_MODULES = (
    "realtime.accessories.glasses",
    "realtime.accessories.headband",
)


def library() -> tuple[Accessory, ...]:
    """Every built-in accessory, in ``ACCESSORY_MODULES`` order (each module's ``library()``)."""
    return tuple(accessory for module in ACCESSORY_MODULES for accessory in importlib.import_module(module).library())


def accessory_names() -> list[str]:
    return [accessory.name for accessory in library()]


@dataclass(frozen=True)
class Dressed:
    """A fused face ready to draw: its head proxy (None: no face, or not a drawable one) and the
    accessory's parts posed on it (empty without an accessory)."""

    proxy: HeadProxy | None
    parts: tuple[PosedPart, ...] = ()


def dress(fused: Any, accessory: Accessory | None, face_triangles: np.ndarray) -> Dressed:
    """Fit ``accessory`` to ``fused`` (None, a ``FusionResult`` or ``(468, 3)`` mm camera space):
    build its head proxy and pose the accessory's parts on it. Pure numpy; the renderer takes
    both (``Renderer.render(..., parts=dressed.parts, proxy=dressed.proxy)``)."""
    vertices = fused_vertices(fused)
    if vertices is None:
        return Dressed(None)
    proxy = build_head_proxy(vertices, face_triangles)
    return Dressed(proxy, tuple(accessory.fit(proxy)) if accessory is not None else ())
