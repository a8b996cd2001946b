"""Shader programs loaded by name from ``shaders/``, and the headless GL context.

Each program is one ``<name>.glsl`` file holding both stages behind ``#if defined
VERTEX_SHADER`` / ``#elif defined FRAGMENT_SHADER`` (the moderngl-window single-file layout);
the loader compiles it twice with the matching ``#define`` inserted after ``#version``. A line
``#include "part.glsl"`` is replaced by that file's text, so programs share stages instead of
copying them.
"""

from __future__ import annotations

import re
from functools import lru_cache

import moderngl

from realtime.errors import Selfie3DError
from realtime.resources import shaders_dir

# GLSL 330 core is what Mesa's llvmpipe, macOS core profiles and every desktop GPU since 2010
# provide; nothing in the passes needs more.
GL_VERSION = 330


_INCLUDE = re.compile(r'^#include "([\w.-]+)\.glsl"\s*$', re.MULTILINE)


@lru_cache(maxsize=None)
def shader_source(name: str) -> str:
    """Text of ``shaders/<name>.glsl`` with its ``#include "part.glsl"`` lines expanded."""
    path = shaders_dir() / f"{name}.glsl"
    if not path.is_file():
        raise Selfie3DError(f"shader {name!r} not found at {path}: the package data is incomplete, reinstall selfie3d")
    return _INCLUDE.sub(lambda match: shader_source(match.group(1)), path.read_text())


def _with_define(source: str, define: str) -> str:
    first, _, rest = source.partition("\n")
    if not first.startswith("#version"):
        raise Selfie3DError(f"shader source must start with #version, got {first!r}")
    return f"{first}\n#define {define} 1\n{rest}"


def load_program(ctx: moderngl.Context, name: str) -> moderngl.Program:
    """Compile and link ``shaders/<name>.glsl`` in ``ctx``."""
    source = shader_source(name)
    try:
        return ctx.program(
            vertex_shader=_with_define(source, "VERTEX_SHADER"),
            fragment_shader=_with_define(source, "FRAGMENT_SHADER"),
        )
    except moderngl.Error as exc:
        raise Selfie3DError(f"shader {name!r} failed to compile: {exc}") from exc


def create_headless_context() -> moderngl.Context:
    """A standalone OpenGL 3.3 context without a window (EGL; Mesa llvmpipe on CPU-only machines).

    Raises ``Selfie3DError`` naming the system packages when no EGL driver is present.
    """
    errors = []
    for backend in ("egl", None):
        try:
            kwargs = {"backend": backend} if backend else {}
            return moderngl.create_standalone_context(require=GL_VERSION, **kwargs)
        except Exception as exc:  # glcontext raises plain Exception subclasses per backend
            errors.append(f"{backend or 'default'}: {exc}")
    raise Selfie3DError(
        "no headless OpenGL 3.3 context could be created (" + "; ".join(errors) + "). On Debian/Ubuntu install "
        "libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri (software rendering works)."
    )
