"""HUD panels (realtime/render/hud.py): even padding around the text at every output height,
nothing clipped, help columns aligned, and only printable ASCII reaching cv2.putText.
Pure image functions: no GL context needed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.render import hud
from realtime.render.hud import HELP_LINES, HudInfo, hershey_text, hud_panels, text_panel

_HEIGHTS = (480, 720, 1080)
# Ink is measured from the panel's opacity: the backing is _PANEL_ALPHA, text raises it.
# Vertical padding is measured to the font's cap and descender lines, which sit within a
# pixel of the ink of capitals and descenders; horizontal padding is measured to the ink.
_MARGIN_TOL_PX = 1
# Help descriptions start where their column starts; glyph side bearings differ by <= 2 px.
_COLUMN_TOL_PX = 2


def _scale(output_height: int) -> float:
    return max(0.6, output_height / hud._BASE_HEIGHT_PX)


def _ink_margins(panel: np.ndarray) -> tuple[int, int, int, int]:
    """Left, right, top, bottom distance (px) from the text's ink to the panel's edges;
    ``panel``: ``(h, w, 4) uint8`` RGBA from ``text_panel``."""
    ys, xs = np.nonzero(panel[..., 3] > hud._PANEL_ALPHA)
    h, w = panel.shape[:2]
    return int(xs.min()), int(w - 1 - xs.max()), int(ys.min()), int(h - 1 - ys.max())


def _coverage(text: str, scale: float) -> float:
    """Total ink (sum of coverage, 0..1 per pixel) of ``text`` drawn alone on a roomy canvas."""
    font_scale, thickness = hud._FONT_SCALE * scale, max(1, int(round(scale)))
    canvas = np.zeros((400, 2000), np.uint8)
    cv2.putText(canvas, text, (100, 200), hud._FONT, font_scale, 255, thickness, cv2.LINE_AA)
    return float(canvas.sum()) / 255.0


@pytest.mark.parametrize("output_height", _HEIGHTS)
@pytest.mark.parametrize("lines", [
    ["Saved gyp"],
    ["Keys", "jumpy glyphs gyp"],
    ["29.7 FPS", "provider: CPUExecutionProvider", "? or H: help"],
], ids=["cap-and-descenders", "caps-then-descenders", "status"])
def test_padding_is_even_around_caps_and_descenders(lines, output_height):
    scale = _scale(output_height)
    panel = text_panel(lines, scale)
    pad = int(round(hud._PAD_PX * scale))
    margins = _ink_margins(panel)
    assert max(margins) - min(margins) <= _MARGIN_TOL_PX, margins
    assert min(margins) >= pad - _MARGIN_TOL_PX, (margins, pad)


@pytest.mark.parametrize("output_height", _HEIGHTS)
@pytest.mark.parametrize("text", ["[49]|(21)/", "j_y gyp", "y", "___"])
def test_overhanging_glyphs_are_not_clipped(text, output_height):
    """Brackets and slashes rise above the cap line and sink below the descender line; 'j',
    'y' and '_' start left of their origin at thickness 2. All of the ink is in the panel,
    at least the padding away from every edge."""
    scale = _scale(output_height)
    panel = text_panel([text], scale)
    pad = int(round(hud._PAD_PX * scale))
    assert min(_ink_margins(panel)) >= pad
    ink = np.clip((panel[..., 3].astype(np.float32) - hud._PANEL_ALPHA) / (255 - hud._PANEL_ALPHA), 0, 1)
    assert abs(float(ink.sum()) - _coverage(text, scale)) < 0.01 * _coverage(text, scale)


def test_panel_height_does_not_depend_on_descenders():
    """A bottom-anchored message panel must not jump when its text changes from "saved" to
    "gyp": the line box is the font's, not the ink's."""
    for height in _HEIGHTS:
        scale = _scale(height)
        assert text_panel(["saved"], scale).shape[0] == text_panel(["gyp"], scale).shape[0]


@pytest.mark.parametrize("output_height", _HEIGHTS)
def test_hud_panels_padding_and_placement_anchors(output_height):
    info = HudInfo(fps=29.7, timings_ms={"track": 2.0}, provider="CPUExecutionProvider", pd_mm=63.0,
                   tracking="tracking", glasses="round 49\u25a121-145", messages=("bust saved: out/gyp.stl",),
                   show_help=True)
    panels = hud_panels(info, output_height)
    assert [anchor for _, anchor in panels] == ["top-left", "bottom-left", "centre"]
    for rgba, _ in panels:
        margins = _ink_margins(rgba)
        assert max(margins) - min(margins) <= _MARGIN_TOL_PX, margins
        # The backing's border rows and columns carry no text.
        border = np.concatenate([rgba[0, :, 3], rgba[-1, :, 3], rgba[:, 0, 3], rgba[:, -1, 3]])
        assert np.all(border == hud._PANEL_ALPHA)


@pytest.mark.parametrize("output_height", _HEIGHTS)
def test_help_descriptions_line_up_in_a_column(output_height):
    """The Hershey font is proportional: padding keys with spaces leaves a ragged column."""
    help_panel = next(rgba for rgba, anchor in hud_panels(HudInfo(show_help=True), output_height) if anchor == "centre")
    scale = _scale(output_height) * 1.15
    font_scale, thickness = hud._FONT_SCALE * scale, max(1, int(round(scale)))
    pad, pitch, gap = (int(round(v * scale)) for v in (hud._PAD_PX, hud._LINE_PX, hud._COLUMN_GAP_PX))
    above, below = hud.line_box(font_scale, thickness)
    key_width = max(cv2.getTextSize(key, hud._FONT, font_scale, thickness)[0][0] for key, _ in HELP_LINES)
    ink = help_panel[..., 3] > hud._PANEL_ALPHA
    starts = []
    for row in range(1, len(HELP_LINES) + 1):  # row 0 is the "Keys" title
        top = pad + row * pitch
        band = ink[top:top + above + below + 1].any(axis=0)
        # Past the widest key and half the gap, only the description has ink.
        starts.append(int(np.argmax(band[pad + key_width + gap // 2:])))
    assert max(starts) - min(starts) <= _COLUMN_TOL_PX, starts


# ----------------------------------------------------------------------------- ASCII for Hershey


@pytest.mark.parametrize("text, ascii_text", [
    ("50\u25a120-145", "50[]20-145"),        # optician's box notation
    ("tilt 12\u00b0", "tilt 12 deg"),
    ("2\u00d73", "2x3"),
    ("a\u2013b\u2014c\u2212d", "a-b-c-d"),
    ("M\u00fcller caf\u00e9", "Muller cafe"),   # accents dropped, letter kept
    ("tab\there\nnext", "tab here next"),
    ("\u65e5\u672c \U0001f453", "?? ?"),         # no ASCII spelling: one '?' each
    ("plain ASCII ~!@#", "plain ASCII ~!@#"),
])
def test_hershey_text_spells_in_printable_ascii(text, ascii_text):
    assert hershey_text(text) == ascii_text


def test_hershey_text_never_lets_other_characters_through():
    rng = np.random.default_rng(7)
    for _ in range(200):
        text = "".join(chr(c) for c in rng.integers(0, 0x3000, 12) if not 0xD800 <= c <= 0xDFFF)
        assert all(" " <= ch <= "~" for ch in hershey_text(text))


def test_panels_draw_the_ascii_spelling():
    """What reaches cv2.putText is the mapped text: a panel of Unicode text is pixel for pixel
    the panel of its ASCII spelling (cv2 would draw '?' for the box, not '[]')."""
    scale = _scale(720)
    assert np.array_equal(text_panel(["glasses: round 49\u25a121-145"], scale),
                          text_panel(["glasses: round 49[]21-145"], scale))
    assert np.array_equal(text_panel([("\u00d7", "12\u00b0")], scale), text_panel([("x", "12 deg")], scale))
    glasses = HudInfo(glasses="round 49\u25a121-145")
    assert np.array_equal(hud_panels(glasses, 720)[0][0],
                          hud_panels(HudInfo(glasses="round 49[]21-145"), 720)[0][0])
