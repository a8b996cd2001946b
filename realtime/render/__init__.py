"""The render stage (see ``realtime.render.renderer``): try-on composites with ModernGL.

Public API: ``Renderer``, ``RenderOptions``, ``RenderResult``, ``ViewMode``, ``View3D``,
``HudInfo``, ``HudMode``, ``create_headless_context`` and ``render_benchmark``.
"""

from realtime.render.hud import HudInfo, HudMode
from realtime.render.programs import create_headless_context, load_program
from realtime.render.renderer import Renderer, RenderOptions, RenderResult, View3D, ViewMode
from realtime.render.benchmark import RenderBenchmarkResult, render_benchmark

__all__ = [
    "HudInfo", "HudMode", "Renderer", "RenderOptions", "RenderResult", "View3D", "ViewMode",
    "create_headless_context", "load_program", "RenderBenchmarkResult", "render_benchmark",
]
