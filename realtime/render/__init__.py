"""The render stage (see ``realtime.render.renderer``): try-on composites with ModernGL.

Public API: ``Renderer``, ``RenderOptions``, ``RenderResult``, ``ViewMode``, ``View3D``,
``HudInfo``, ``HudMode`` and ``create_headless_context`` (its benchmark is a tool:
``realtime.tools.render_bench``).
"""

from realtime.render.hud import HudInfo, HudMode
from realtime.render.programs import create_headless_context, load_program
from realtime.render.renderer import Renderer, RenderOptions, RenderResult, View3D, ViewMode

__all__ = [
    "HudInfo", "HudMode", "Renderer", "RenderOptions", "RenderResult", "View3D", "ViewMode",
    "create_headless_context", "load_program",
]
