"""The HUD (realtime/render/hud.py and its placement in realtime/render/renderer.py): a real
font (□ is a box, not "[]"), even padding, nothing clipped, wrapping to the room it gets, one
status line by default, and in a composite: a corner of the camera image that the face, the
glasses and the 3D inset leave free, never on the bars of a pillarboxed source, never over the
glasses. Set ``SELFIE3D_HUD_DOCS=docs`` to write the README's reference images there."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.render import hud
from realtime.render.hud import (
    HELP_LINES, HudInfo, HudMode, hud_font, hud_panels, hud_scale, status_items, text_panel, wrap_items, wrap_text,
)
from realtime.render.renderer import (
    HUD_CORNERS, choose_hud_corner, hud_room_px, hud_stack_origins, stack_box,
)

_HEIGHTS = (480, 720, 1080)
# Ink is measured from the panel's opacity: the backing is _PANEL_ALPHA, text raises it.
# Vertical padding is measured to the font's ascender and descender lines (the ink of
# letters and digits), horizontal padding to the ink; antialiasing moves either by a pixel.
_MARGIN_TOL_PX = 1
# Help descriptions start where their column starts; glyph side bearings differ by <= 2 px.
_COLUMN_TOL_PX = 2
# Ink totals of a panel and of the same text drawn alone: the same glyphs, rounding apart.
_INK_REL_TOL = 0.01
# Glyph masks that differ in at least this many pixels are different glyphs.
_GLYPH_DIFF_PX = 10

_FULL = HudInfo(fps=29.7, timings_ms={"track": 2.0, "reconstruct": 8.1, "fuse": 2.9, "render": 9.0},
                provider="CPUExecutionProvider", pd_mm=62.3, tracking="tracking (120 frames fused, scale: iris)",
                glasses="round 49\u25a121-145", view="try-on, 3D inset",
                bust="bust saved: /home/user/selfie3d/out/bust-20250101-120000-1.stl")


def _ink_margins(panel: np.ndarray) -> tuple[int, int, int, int]:
    """Left, right, top, bottom distance (px) from the text's ink to the panel's edges;
    ``panel``: ``(h, w, 4) uint8`` RGBA from ``text_panel``."""
    ys, xs = np.nonzero(panel[..., 3] > hud._PANEL_ALPHA)
    h, w = panel.shape[:2]
    return int(xs.min()), int(w - 1 - xs.max()), int(ys.min()), int(h - 1 - ys.max())


def _ink(panel: np.ndarray) -> np.ndarray:
    """Coverage 0..1 per pixel of a panel's text."""
    return np.clip((panel[..., 3].astype(np.float32) - hud._PANEL_ALPHA) / (255 - hud._PANEL_ALPHA), 0, 1)


def _glyph(text: str, size: int = 40) -> np.ndarray:
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (4 * size, 2 * size), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 2), text, fill=255, font=hud_font(size))
    return np.asarray(canvas) > 127


# ----------------------------------------------------------------------------- font


def test_the_font_ships_in_the_package_with_its_licence():
    assert hud.FONT_PATH.is_file() and hud.FONT_PATH.suffix == ".ttf"
    licence = (hud.FONT_PATH.parent / "LICENSE-DejaVu.txt").read_text()
    assert "Bitstream Vera" in licence and "DejaVu changes are in public domain" in licence
    assert hud_font(16).getname()[0] == "DejaVu Sans"


@pytest.mark.parametrize("symbol, lookalike", [("\u25a1", "[]"), ("\u00d7", "x"), ("\u00b0", "o")])
def test_symbols_are_drawn_as_themselves(symbol, lookalike):
    """□ is a square glyph: not the font's missing-glyph box (what Pillow's default font and
    OpenCV's Hershey fonts draw) and not an ASCII stand-in."""
    missing = _glyph("\U000f0000")  # a private-use code point no font has
    drawn = _glyph(symbol)
    assert drawn.sum() > 0
    assert np.count_nonzero(drawn != missing) > _GLYPH_DIFF_PX
    assert np.count_nonzero(drawn != _glyph(lookalike)) > _GLYPH_DIFF_PX
    if symbol == "\u25a1":  # a hollow square: ink on its outline, none in its middle
        ys, xs = np.nonzero(drawn)
        assert abs((xs.max() - xs.min()) - (ys.max() - ys.min())) <= 2
        assert not drawn[(ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2]


def test_a_panel_draws_the_box_not_brackets():
    scale = hud_scale(720)
    assert not np.array_equal(text_panel(["round 49\u25a121-145"], scale), text_panel(["round 49[]21-145"], scale))


# ----------------------------------------------------------------------------- panels


@pytest.mark.parametrize("output_height", _HEIGHTS)
@pytest.mark.parametrize("lines", [
    ["Saved gyp"],
    ["Keys", "jumpy glyphs gyp"],
    ["30 FPS  \u00b7  PD 62.3 mm  \u00b7  round 49\u25a121-145  \u00b7  ? help"],
], ids=["cap-and-descenders", "caps-then-descenders", "status"])
def test_padding_is_even_around_caps_and_descenders(lines, output_height):
    scale = hud_scale(output_height)
    panel = text_panel(lines, scale)
    pad = int(round(hud._PAD_PX * scale))
    margins = _ink_margins(panel)
    assert max(margins) - min(margins) <= _MARGIN_TOL_PX, margins
    assert min(margins) >= pad - _MARGIN_TOL_PX, (margins, pad)


@pytest.mark.parametrize("output_height", _HEIGHTS)
@pytest.mark.parametrize("text", ["[49]|(21)/", "j_y gyp", "y", "___", "\u00c5\u00c9 \u00e7"])
def test_overhanging_glyphs_are_not_clipped(text, output_height):
    """Brackets and slashes rise above the ascender line and sink below the descender line,
    accents rise above capitals: all of the ink is in the panel, the padding away from every
    edge, and as much of it as the text drawn alone has."""
    scale = hud_scale(output_height)
    panel = text_panel([text], scale)
    pad = int(round(hud._PAD_PX * scale))
    assert min(_ink_margins(panel)) >= pad - _MARGIN_TOL_PX
    alone = _glyph_coverage(text, max(6, int(round(hud._FONT_PX * scale))))
    assert abs(float(_ink(panel).sum()) - alone) < _INK_REL_TOL * alone


def _glyph_coverage(text: str, size: int) -> float:
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (40 * size, 4 * size), 0)
    ImageDraw.Draw(canvas).text((size, 2 * size), text, fill=255, font=hud_font(size), anchor="ls")
    return float(np.asarray(canvas, np.float32).sum()) / 255.0


def test_panel_height_does_not_depend_on_descenders():
    """A bottom-anchored panel must not jump when its text changes from "saved" to "gyp": the
    line box is the font's letters', not the ink's."""
    for height in _HEIGHTS:
        scale = hud_scale(height)
        assert text_panel(["saved"], scale).shape[0] == text_panel(["gyp"], scale).shape[0]


@pytest.mark.parametrize("output_height", _HEIGHTS)
def test_help_descriptions_line_up_in_a_column(output_height):
    """The font is proportional: padding keys with spaces would leave a ragged column."""
    help_panel = next(rgba for rgba, role in hud_panels(HudInfo(show_help=True), output_height) if role == "help")
    scale = hud_scale(output_height) * hud._HELP_SCALE
    font, ascent, descent, pitch, pad, gap = hud._metrics(scale)
    key_width = max(int(np.ceil(font.getlength(key))) for key, _ in HELP_LINES)
    ink = help_panel[..., 3] > hud._PANEL_ALPHA
    starts = []
    for row in range(1, len(HELP_LINES) + 1):  # row 0 is the "Keys" title
        top = pad + row * pitch
        band = ink[top:top + ascent + descent + 1].any(axis=0)
        # Past the widest key and half the gap, only the description has ink.
        starts.append(int(np.argmax(band[pad + key_width + gap // 2:])))
    assert max(starts) - min(starts) <= _COLUMN_TOL_PX, starts


def test_help_lists_the_hud_key_and_both_help_keys():
    keys = dict(HELP_LINES)
    assert "HUD" in keys["I"] and keys["? or H"] == "this help"


# ----------------------------------------------------------------------------- wrapping


@pytest.mark.parametrize("text", [
    "bust saved: /home/user/a/rather/long/folder/name/out/bust-20250101-120000-1.stl",
    "word " * 30,
    "x" * 200,
])
@pytest.mark.parametrize("width", [60, 150, 400])
def test_wrapped_lines_fit_and_keep_every_character(text, width):
    font = hud_font(16)
    lines = wrap_text(text, font, width)
    assert all(font.getlength(line) <= width for line in lines), lines
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_a_long_path_breaks_after_its_slashes_then_its_hyphens():
    font = hud_font(16)
    path = "/home/user/projects/selfie3d/out/bust-20250101-120000-1.stl"
    lines = wrap_text(path, font, font.getlength("/home/user/projects/sel"))
    assert lines[:2] == ["/home/user/projects/", "selfie3d/out/"], lines
    assert len(lines) > 3 and all(line.endswith("-") for line in lines[2:-1]), lines


def test_status_items_are_not_split_when_they_fit():
    font = hud_font(16)
    items = ["30 FPS", "PD 62.3 mm", "round 49\u25a121-145", "scan 64%", "? help"]
    one = wrap_items(items, font, None)
    assert len(one) == 1
    narrow = wrap_items(items, font, font.getlength("round 49\u25a121-145  \u00b7  scan"))
    assert len(narrow) > 1
    assert sorted(i for line in narrow for i in line.split(hud.STATUS_SEPARATOR)) == sorted(items)


# ----------------------------------------------------------------------------- what shows


def test_compact_is_one_status_line_and_caller_items_join_it():
    info = dataclasses.replace(_FULL, extra=("scan 64%",))
    items = status_items(info)
    assert items[0] == "30 FPS" and "PD 62.3 mm" in items and "round 49\u25a121-145" in items
    assert "scan 64%" in items and items[-1] == "? help"
    panels = hud_panels(info, 720, max_width_px=900)
    status = next(rgba for rgba, role in panels if role == "status")
    assert status.shape[0] == text_panel(["30 FPS"], hud_scale(720)).shape[0]  # one line
    assert [role for _, role in panels] == ["status", "notice"]


def test_no_face_and_pause_show_on_the_status_line():
    items = status_items(dataclasses.replace(_FULL, face=False, paused=True))
    assert "no face" in items and "PAUSED" in items and not any(i.startswith("PD") for i in items)


@pytest.mark.parametrize("mode, roles", [
    (HudMode.COMPACT, ["status", "notice"]),
    (HudMode.DETAILS, ["status", "notice", "details"]),
    (HudMode.OFF, []),
])
def test_modes_choose_the_panels(mode, roles):
    assert [role for _, role in hud_panels(dataclasses.replace(_FULL, mode=mode), 720)] == roles
    with_help = hud_panels(dataclasses.replace(_FULL, mode=mode, show_help=True, messages=("glasses: aviator",)), 720)
    assert [role for _, role in with_help][-1] == "help"
    assert "notice" in [role for _, role in with_help]  # notices show even with the HUD off


def test_hud_mode_cycles_compact_details_off():
    assert [HudMode.COMPACT.next(), HudMode.DETAILS.next(), HudMode.OFF.next()] == [
        HudMode.DETAILS, HudMode.OFF, HudMode.COMPACT]


@pytest.mark.parametrize("output_height", _HEIGHTS)
def test_panels_wrap_to_the_room_they_get(output_height):
    for room in (180, 300, 600):
        for rgba, role in hud_panels(dataclasses.replace(_FULL, mode=HudMode.DETAILS), output_height, max_width_px=room):
            assert rgba.shape[1] <= room, (role, rgba.shape, room)
            margins = _ink_margins(rgba)
            assert min(margins) >= int(round(hud._PAD_PX * hud_scale(output_height))) - _MARGIN_TOL_PX


# ----------------------------------------------------------------------------- placement (pure)

_CAMERA = (160, 0, 1120, 720)  # a 4:3 camera pillarboxed in 1280x720, y down


def test_stacks_grow_from_their_corner_inwards():
    sizes = [(300, 30), (500, 30)]
    assert hud_stack_origins(sizes, "bottom-left", _CAMERA, 12, 4) == [(172, 678), (172, 644)]
    assert hud_stack_origins(sizes, "top-right", _CAMERA, 12, 4) == [(808, 12), (608, 46)]
    assert stack_box(sizes, "bottom-left", _CAMERA, 12, 4) == (172, 644, 672, 708)
    with pytest.raises(ValueError):
        hud_stack_origins(sizes, "centre", _CAMERA, 12, 4)


def test_the_corner_avoids_face_glasses_and_inset_and_stays_put():
    sizes = [(300, 30)]
    glasses = (150, 650, 500, 720)  # low in the image, over the bottom-left corner
    inset = (923, 449, 1268, 708)
    assert choose_hud_corner(sizes, _CAMERA, [[inset]], 12, 4) == "bottom-left"
    assert choose_hud_corner(sizes, _CAMERA, [[glasses, inset]], 12, 4) == "top-left"
    # A face over the whole top: the stricter level fails everywhere, the next decides.
    face = (160, 0, 1120, 500)
    assert choose_hud_corner(sizes, _CAMERA, [[face, glasses, inset], [glasses, inset]], 12, 4) in ("top-left", "top-right")
    # Both bottom corners free: the previous one stays.
    assert choose_hud_corner(sizes, _CAMERA, [[]], 12, 4, previous="top-right") == "top-right"
    # Nothing free anywhere: the previous corner, the glasses are drawn over it.
    everywhere = [(0, 0, 1280, 720)]
    assert choose_hud_corner(sizes, _CAMERA, [everywhere], 12, 4, previous="bottom-right") == "bottom-right"
    assert set(HUD_CORNERS) == {"bottom-left", "bottom-right", "top-left", "top-right"}


def test_room_leaves_out_the_inset_where_it_overlaps_the_image():
    inset = (923, 449, 1268, 708)
    assert hud_room_px(_CAMERA, None, 12) == 960 - 24
    assert hud_room_px(_CAMERA, inset, 12) == 923 - 160 - 24
    portrait = (437, 0, 842, 720)  # a 9:16 source: the inset is beside it, not on it
    assert hud_room_px(portrait, inset, 12) == 405 - 24


# ----------------------------------------------------------------------------- in a composite

REFERENCE_DIR = Path(__file__).parent / "reference"
_OUTPUT = (1280, 720)
# A 9:16 crop of the 4:3 demo frame around the face: the same camera with cx moved.
_PORTRAIT_X0, _PORTRAIT_W = 185, 270


@pytest.fixture(scope="module")
def sources():
    """``name -> (frame, intrinsics)``: the demo clip's frontal frame, landscape (4:3) and a
    portrait (9:16) crop of it with the intrinsics moved to match, and the face in both."""
    from realtime.camera import CameraIntrinsics
    from realtime.stages.democlip import DemoClipOptions, render_demo_frame

    frame = render_demo_frame(0, DemoClipOptions(motion=False))
    landscape = CameraIntrinsics.default(640, 480, 60.0)
    portrait = dataclasses.replace(landscape, cx=landscape.cx - _PORTRAIT_X0, width=_PORTRAIT_W)
    crop = np.ascontiguousarray(frame[:, _PORTRAIT_X0:_PORTRAIT_X0 + _PORTRAIT_W])
    return {"landscape": (frame, landscape), "portrait": (crop, portrait)}


@pytest.fixture(scope="module")
def face_mm() -> np.ndarray:
    return np.load(REFERENCE_DIR / "face_frontal_mm.npy")


def _render(gl_ctx, frame, intrinsics, face, hud_info, glasses=True, lenses=True):
    from realtime.accessories import dress
    from realtime.accessories.glasses import GLASSES_LIBRARY, GlassesAccessory, build_glasses
    from realtime.render import Renderer, RenderOptions, View3D, ViewMode
    from realtime.topology import face_triangles

    model = build_glasses(GLASSES_LIBRARY[0]) if glasses else None
    if model is not None and not lenses:
        model = dataclasses.replace(model, lenses=None)
    with Renderer(gl_ctx, RenderOptions(*_OUTPUT), face_triangles()) as renderer:
        dressed = dress(face, GlassesAccessory(model) if model is not None else None, renderer.face_triangles)
        image = renderer.render(frame, face, intrinsics, ViewMode.TRYON, dressed.parts, hud_info, View3D.INSET,
                                proxy=dressed.proxy).image
        return image, dict(renderer.hud_boxes)


@pytest.mark.parametrize("source", ["landscape", "portrait"])
def test_hud_sits_on_the_image_away_from_the_face_and_never_over_the_glasses(gl_ctx, sources, face_mm, source):
    from realtime.render.projection import fit_viewport
    from realtime.render.renderer import camera_box_px

    frame, intrinsics = sources[source]
    info = dataclasses.replace(_FULL, mode=HudMode.DETAILS)
    with_hud, boxes = _render(gl_ctx, frame, intrinsics, face_mm, info)
    bare, _ = _render(gl_ctx, frame, intrinsics, face_mm, None)
    no_glasses, _ = _render(gl_ctx, frame, intrinsics, face_mm, None, glasses=False)
    camera = camera_box_px(fit_viewport(frame.shape[1], frame.shape[0], (0, 0, *_OUTPUT)), _OUTPUT[1])

    assert set(boxes) == {"status", "notice", "details"}
    for role, (x0, y0, x1, y1) in boxes.items():  # whole boxes, on the camera image
        assert camera[0] <= x0 and x1 <= camera[2] and camera[1] <= y0 and y1 <= camera[3], (role, boxes[role], camera)
    # The black bars stay black (the 3D inset aside): no text ran onto them.
    bars = np.zeros(with_hud.shape[:2], bool)
    bars[:, :camera[0]] = bars[:, camera[2]:] = True
    assert np.array_equal(with_hud[bars & ~_inset_mask(bare)], bare[bars & ~_inset_mask(bare)])
    assert not (with_hud[bars & ~_inset_mask(bare)] > 0).any()
    # The HUD changed pixels only inside its boxes.
    changed = np.abs(with_hud.astype(int) - bare.astype(int)).max(axis=2) > 0
    inside = np.zeros_like(changed)
    for x0, y0, x1, y1 in boxes.values():
        inside[y0:y1, x0:x1] = True
    assert changed.any() and not (changed & ~inside).any()
    # The glasses (where they change the picture) look exactly as without a HUD.
    glasses = np.abs(bare.astype(int) - no_glasses.astype(int)).max(axis=2) > 0
    assert glasses.sum() > 500
    assert np.array_equal(with_hud[glasses], bare[glasses])
    # The default HUD keeps the face clear too: below the chin (the details may not fit there).
    compact, boxes = _render(gl_ctx, frame, intrinsics, face_mm, _FULL)
    face = _face_box(face_mm, intrinsics, camera)
    assert set(boxes) == {"status", "notice"}
    for box in boxes.values():
        assert not _overlap(box, face) and box[1] > face[3], (box, face)

    docs = os.environ.get("SELFIE3D_HUD_DOCS")
    if docs:
        cv2.imwrite(str(Path(docs) / f"hud_{source}.png"), compact)


def test_glasses_stay_on_top_where_no_corner_is_free(gl_ctx, sources, face_mm, monkeypatch):
    """Where no corner is free (a face close to the camera, the details open) the HUD still
    shows, under the glasses: their frame is drawn over it, pixel for pixel as without a HUD.
    The corner is forced onto the glasses to make sure they meet."""
    from realtime.geometry import face_frame
    from realtime.render import renderer

    frame, intrinsics = sources["portrait"]
    origin, _ = face_frame(face_mm)
    close = ((face_mm - origin) + origin * np.array([1.0, 1.0, 0.5])).astype(np.float32)  # half as far
    monkeypatch.setattr(renderer, "choose_hud_corner", lambda *args, **kwargs: "top-left")
    # The frame alone: lenses are see-through, the HUD under them shows as anything would.
    with_hud, boxes = _render(gl_ctx, frame, intrinsics, close, dataclasses.replace(_FULL, mode=HudMode.DETAILS),
                              lenses=False)
    bare, _ = _render(gl_ctx, frame, intrinsics, close, None, lenses=False)
    no_glasses, _ = _render(gl_ctx, frame, intrinsics, close, None, glasses=False)
    rims = np.abs(bare.astype(int) - no_glasses.astype(int)).max(axis=2) > 0
    under = np.zeros_like(rims)
    for x0, y0, x1, y1 in boxes.values():
        under[y0:y1, x0:x1] = True
    assert (rims & under).sum() > 50, "the glasses do not reach the HUD: the test proves nothing"
    assert np.array_equal(with_hud[rims], bare[rims])
    assert (np.abs(with_hud.astype(int) - bare.astype(int)).max(axis=2) > 0)[under & ~rims].mean() > 0.5  # HUD drawn


def _inset_mask(image: np.ndarray) -> np.ndarray:
    """Pixels of the 3D inset (bottom right of the output, ``RenderOptions`` defaults)."""
    from realtime.render import RenderOptions

    o = RenderOptions(*_OUTPUT)
    ih = int(round(o.height * o.inset_fraction))
    iw = int(round(ih * 4 / 3))
    mask = np.zeros(image.shape[:2], bool)
    mask[o.height - o.inset_margin_px - ih:o.height - o.inset_margin_px, o.width - iw - o.inset_margin_px:o.width - o.inset_margin_px] = True
    return mask


def _face_box(face_mm, intrinsics, camera):
    from realtime.render.renderer import projected_box_px

    return projected_box_px(face_mm, intrinsics, camera, 10.0)


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
