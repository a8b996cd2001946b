"""Acceptance tests of issue 13 on photos the tests can make: the bust follows the person's outline
(silhouette IoU above the chin), different people give different busts, spectacles are not
engraved, and every bust stays printable."""

import cv2
import numpy as np
import pytest

from realtime import topology
from realtime.printing import overlay
from realtime.printing.bust import BustOptions, build_bust, export_bust
from realtime.tools.likeness import bust_distance_mm
from realtime.topology import face_triangles
from slicer import assert_slices_cleanly

MIN_SILHOUETTE_IOU = 0.85  # the figure, above the chin
MIN_DISTINCT_RATIO = 3.0  # different people / the same person, RMS surface distance
SPECTACLE_ENGRAVING_MM = 0.05  # the most drawn frames may move the surface in their zone (life mm)


def _another_copy(image: np.ndarray) -> np.ndarray:
    """The same person in another photo as far as the tests can make one: reframed, smaller,
    exposed differently and compressed hard."""
    h, w = image.shape[:2]
    out = image[:, int(0.08 * w):]
    out = cv2.resize(out, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    out = cv2.convertScaleAbs(out, alpha=0.8, beta=25)
    ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 50])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def photo():
    from realtime.stages.photo import PhotoReconstructor

    with PhotoReconstructor() as reconstructor:
        yield reconstructor


@pytest.fixture(scope="module")
def people(astronaut, grace_hopper, photo):
    images = {"astronaut": astronaut, "hopper": grace_hopper}
    images.update({f"{name}_copy": _another_copy(image) for name, image in list(images.items())})
    out = {}
    for name, image in images.items():
        found = photo.run(image)
        assert found.faces and found.persons, name
        out[name] = (image, found.faces[0], found.persons[0])
    return out


def _iou_above_chin(image, face, person, bust) -> float:
    h, w = image.shape[:2]
    silhouette = overlay.silhouette_mask(bust.mesh.vertices, bust.mesh.faces, bust.view, (w, h))
    return overlay.silhouette_iou(silhouette, person, face.vertices_px)


# How far below the outline's IoU the template head's is, at least: the astronaut's hair is far
# from a template's skull (measured 0.971 against 0.755 in the bust style, 0.942 against 0.756 in
# the head style); Grace Hopper's cap on her round head is close to one (0.962 against 0.916, and
# 0.966 against 0.915; 0.953 against 0.865 while the segmentation was shown her photo turned inside
# black and left the cap's top out of her mask, segmentation.network_crop).
TEMPLATE_SHORTFALL = {"astronaut": 0.15, "hopper": 0.02}


@pytest.mark.parametrize("name", ["astronaut", "hopper"])
@pytest.mark.parametrize("style", ["bust", "head"])
def test_the_bust_follows_the_persons_outline_above_the_chin(people, name, style):
    image, face, person = people[name]
    bust = build_bust(face.vertices_mm, face_triangles(), BustOptions(style=style), image=image,
                      vertices_px=face.vertices_px, person=person)
    with_outline = _iou_above_chin(image, face, person, bust)
    template = build_bust(face.vertices_mm, face_triangles(), BustOptions(style=style), image=image,
                          vertices_px=face.vertices_px)
    assert with_outline >= MIN_SILHOUETTE_IOU
    # The template head (no outline) is what the measure is there to catch.
    assert _iou_above_chin(image, face, person, template) < with_outline - TEMPLATE_SHORTFALL[name]
    assert bust.checks["watertight"] and bust.checks["shells"] == 1


def test_a_bust_from_a_group_photo_is_one_person_s(photo, two_people):
    # The astronaut and Grace Hopper side by side: Hopper's bust took the astronaut's head for more of
    # her hair (its silhouette covered 28% of the photo left of the seam above the chin; IoU 0.78, now 0.93).
    found = photo.run(two_people)
    image, face, person = two_people, found.faces[0], found.persons[0]
    bust = build_bust(face.vertices_mm, face_triangles(), BustOptions(), image=image,
                      vertices_px=face.vertices_px, person=person)
    h, w = image.shape[:2]
    silhouette = overlay.silhouette_mask(bust.mesh.vertices, bust.mesh.faces, bust.view, (w, h))
    assert silhouette[:180, :230].mean() < 0.01
    assert _iou_above_chin(image, face, person, bust) >= MIN_SILHOUETTE_IOU


def test_different_people_give_visibly_different_busts(people):
    busts = {name: build_bust(face.vertices_mm, face_triangles(), BustOptions(), image=image,
                              vertices_px=face.vertices_px, person=person).mesh
             for name, (image, face, person) in people.items()}
    same = [bust_distance_mm(busts[n], busts[f"{n}_copy"]) for n in ("astronaut", "hopper")]
    different = [bust_distance_mm(busts[a], busts[b]) for a in ("astronaut", "astronaut_copy")
                 for b in ("hopper", "hopper_copy")]
    assert min(different) >= MIN_DISTINCT_RATIO * max(same), (same, different)


EAR_SHOWN_MM3 = 15.0  # each ear's volume out of Hopper's bust without ears (measured 27 / 40 mm^3)
EAR_BURIED_MM3 = 10.0  # ... out of the astronaut's, whose hair covers her ears (measured 2.7 / 4.0 mm^3)


def _ears_out_of_the_head_mm3(people, name, monkeypatch) -> tuple[float, float]:
    """The volume (print mm^3) the ears add to a bust on the person's right and left."""
    from realtime.printing import bust, solids

    image, face, person = people[name]
    meshes = []
    for ears in (True, False):
        with monkeypatch.context() as patch:
            if not ears:
                patch.setattr(bust, "_ears", lambda *args: [])
            meshes.append(build_bust(face.vertices_mm, None, BustOptions(style="bust"), image=image,
                                     vertices_px=face.vertices_px, person=person).mesh)
    added = solids.to_manifold(meshes[0].vertices, meshes[0].faces) - solids.to_manifold(meshes[1].vertices,
                                                                                       meshes[1].faces)
    middle = float(meshes[0].bounds[:, 0].mean())
    return added.trim_by_plane((-1.0, 0.0, 0.0), -middle).volume(), added.trim_by_plane((1.0, 0.0, 0.0), middle).volume()


def test_a_bust_has_both_ears_which_hair_buries_where_it_covers_them(people, monkeypatch):
    # The ears were kept or dropped one by one by the hair colour at their place in the photo; an
    # ear in shadow reads as hair, and 31 of 41 faces over the party and shared photos got busts
    # with one ear (Obama in five photos, Biden, Trump), 10 none (Hopper: her ears show below her cap).
    assert min(_ears_out_of_the_head_mm3(people, "hopper", monkeypatch)) >= EAR_SHOWN_MM3
    assert max(_ears_out_of_the_head_mm3(people, "astronaut", monkeypatch)) <= EAR_BURIED_MM3


CUT_CROWN_AREA = (0.88, 1.15)  # the cut photo's bust above the cut / the whole photo's (measured 0.97; 0.79 bald)


def test_a_photo_cut_through_the_hair_keeps_the_hair_over_the_crown(astronaut, photo):
    # A tight crop through the hair gave a bare skull between two wings of hair, the crown clipped
    # flat where the photo ends (the crop at the astronaut's mesh top: 0.79 of the whole photo's
    # bust above the cut).
    from realtime.tools.likeness import cut_crown_agreement

    _, area = cut_crown_agreement(photo, astronaut)
    assert CUT_CROWN_AREA[0] <= area <= CUT_CROWN_AREA[1]


def _draw_spectacles(image: np.ndarray, vertices_px: np.ndarray) -> np.ndarray:
    """Dark metal frames drawn where spectacles sit: a rim around each eye, a bridge, temples."""
    from realtime import topology

    out = image.copy()
    v = np.asarray(vertices_px, np.float64)[:, :2]
    iod = np.linalg.norm(v[topology.LEFT_EYE_OUTER] - v[topology.RIGHT_EYE_OUTER])
    thickness = max(2, int(round(0.025 * iod)))
    centres = []
    for loop in (topology.RIGHT_EYE, topology.LEFT_EYE):
        centre = v[list(loop)].mean(axis=0)
        centres.append(centre)
        cv2.ellipse(out, tuple(np.round(centre).astype(int)), (int(0.27 * iod), int(0.19 * iod)), 0, 0, 360,
                    (25, 25, 25), thickness, cv2.LINE_AA)
    a, b = centres
    cv2.line(out, tuple(np.round(a + [0.27 * iod, -0.05 * iod]).astype(int)),
             tuple(np.round(b - [0.27 * iod, 0.05 * iod]).astype(int)), (25, 25, 25), thickness, cv2.LINE_AA)
    return out


def test_spectacles_in_the_photo_are_not_engraved(astronaut, photo, monkeypatch):
    from realtime.printing import surface

    found = photo.run(astronaut)
    face = found.faces[0]
    wearing = _draw_spectacles(astronaut, face.vertices_px)

    def detail(image):
        # The shading detail alone, on the same face geometry: only the photo differs.
        from realtime.printing import headframe

        head = headframe.to_head_frame(face.vertices_mm.astype(np.float64))
        shape = surface.fit_head(head)
        directions, _ = surface.warped_sphere()
        field = surface.radial_field(head, shape, directions, face.vertices_px)
        rotation, _ = headframe.head_frame(face.vertices_mm.astype(np.float64))
        toward = rotation @ np.array([0.0, 0.0, -1.0])
        points = shape.centre + directions * field.radius[:, None]
        zone = surface.spectacle_zone(points, head) > 0.5
        return surface.shading_detail(field, head, shape, image, face.vertices_px, toward), zone

    bare, zone = detail(astronaut)
    worn, _ = detail(wearing)
    engraved = np.abs(worn - bare).max()
    # Without the zone the frames are engraved: the test would see it.
    monkeypatch.setattr(surface, "spectacle_zone", lambda points, head: np.zeros(len(points)))
    bare, _ = detail(astronaut)
    worn, _ = detail(wearing)
    unguarded = np.abs(worn - bare).max()
    assert engraved < SPECTACLE_ENGRAVING_MM
    assert unguarded > 10 * SPECTACLE_ENGRAVING_MM


@pytest.mark.parametrize("style", ["bust", "head", "relief", "mask"])
def test_every_style_with_the_outline_is_printable_and_labelled_where_it_can_be(people, style, tmp_path):
    image, face, person = people["hopper"]
    label = None if style == "mask" else "GRACE"
    bust = build_bust(face.vertices_mm, face_triangles(), BustOptions(style=style, label=label), image=image,
                      vertices_px=face.vertices_px, person=person)
    checks = bust.checks
    assert checks["watertight"] and checks["winding_consistent"] and checks["shells"] == 1
    assert checks["volume_mm3"] > 0 and checks["min_wall_mm"] >= 1.2
    assert bust.view is not None and bust.view.shape == (3, 4)
    # ...and the slicer takes it as it is: manifold, sliced without a warning or a repair.
    assert_slices_cleanly(export_bust(bust, tmp_path / f"{style}.stl"), tmp_path)


@pytest.mark.parametrize("style", ["bust", "head"])
def test_a_person_mask_that_ends_at_the_chin_still_gives_one_printable_solid(people, style):
    # The segmentation took the face for a person but nothing under it: a cartoon robot's thin metal
    # neck and its body (opencv-doc's ml.png). The bust's torso was 4 mm wide (marching cubes failed
    # on it); the head's neck was clipped at the chin and the head floated over its plinth.
    import dataclasses

    from realtime import topology

    image, face, person = people["astronaut"]
    crop_v = person.to_crop(face.vertices_px)
    face_height = float(np.linalg.norm(crop_v[topology.FOREHEAD_TOP] - crop_v[topology.CHIN]))
    # Nothing from a little above the chin down (beside the face, the astronaut's suit reaches the
    # chin's row); the mesh's own face stays the person's.
    probability = person.probability.copy()
    probability[int(crop_v[topology.CHIN, 1] - 0.1 * face_height):] = 0.0
    # ...and all of it in the photo (where it is not, the neck may be there).
    headless = dataclasses.replace(person, probability=probability, seen=np.ones_like(person.seen))
    bust = build_bust(face.vertices_mm, face_triangles(), BustOptions(style=style), image=image,
                      vertices_px=face.vertices_px, person=headless)
    assert bust.checks["watertight"] and bust.checks["shells"] == 1
    assert bust.checks["min_wall_mm"] >= 1.2
    if style == "head":
        # The head stands on its neck, not on a point of its chin: just over the plinth, the neck's
        # cross-section is a good part of the one the person's own outline gives (0.11 when the
        # outline clipped the neck at the chin; the floor's radius share 0.6 alone gives 0.36).
        from realtime.printing.bust import PLINTH_HEIGHT_FRACTION

        whole = build_bust(face.vertices_mm, face_triangles(), BustOptions(style=style), image=image,
                           vertices_px=face.vertices_px, person=person)
        height = PLINTH_HEIGHT_FRACTION * BustOptions().height_mm + 1.0
        assert _section_area_mm2(bust.mesh, height) > 0.3 * _section_area_mm2(whole.mesh, height)


def test_a_mask_that_does_not_see_the_face_as_a_person_is_not_used(people):
    # The segmentation found no person at all around a cartoon robot's face (opencv-doc's ml.png):
    # clipped to that outline, the head was cut down to the face's oval, with a flat top.
    import dataclasses

    image, face, person = people["astronaut"]
    assert person.face_share(face.vertices_px) > 0.9
    empty = dataclasses.replace(person, probability=np.zeros_like(person.probability))
    assert empty.face_share(face.vertices_px) == 0.0
    unused = build_bust(face.vertices_mm, face_triangles(), BustOptions(style="head"), image=image,
                        vertices_px=face.vertices_px, person=empty)
    without = build_bust(face.vertices_mm, face_triangles(), BustOptions(style="head"), image=image,
                         vertices_px=face.vertices_px)
    assert any("does not see this face as a person" in line for line in unused.warnings)
    assert not without.warnings
    np.testing.assert_allclose(unused.mesh.bounds, without.mesh.bounds, atol=1e-6)
    assert unused.checks["volume_mm3"] == pytest.approx(without.checks["volume_mm3"], rel=1e-6)


def _section_area_mm2(mesh, height: float) -> float:
    """Area of the solid's horizontal cross-section at ``height`` mm (its closed outlines)."""
    section = mesh.section(plane_origin=[0.0, 0.0, height], plane_normal=[0.0, 0.0, 1.0])
    area = 0.0
    for loop in section.discrete:
        x, y = loop[:, 0], loop[:, 1]
        area += abs(0.5 * (x @ np.roll(y, 1) - y @ np.roll(x, 1)))
    return area


def _chin_section_mm2(bust, face) -> float:
    """The bust's horizontal cross-section (mm^2) at its chin's height: the surface point that the
    photo's camera (``bust.view``) sees at the chin's pixel, the nearest to the viewer."""
    vertices = bust.mesh.vertices
    pixels = np.column_stack([vertices, np.ones(len(vertices))]) @ bust.view.T
    near = np.hypot(*(pixels[:, :2] / pixels[:, 2:] - face.vertices_px[topology.CHIN, :2]).T) < 3.0
    chin = vertices[near][np.argmin(vertices[near, 1])]  # the print's front is -Y
    return _section_area_mm2(bust.mesh, float(chin[2]))


# The painted locks' bust / the astronaut's own at the chin's height: 1.77 (bust) and 3.0 (head)
# measured; 1.0 before hair hung below the chin. The bust's section there takes in the shoulders.
LONG_HAIR_SECTION_GAIN = {"bust": 1.4, "head": 2.0}


@pytest.mark.parametrize("style", sorted(LONG_HAIR_SECTION_GAIN))
def test_long_hair_in_the_photo_hangs_round_the_neck_and_down_the_back(astronaut, photo, style):
    from drawn_hair import paint_hanging_hair

    plain = photo.run(astronaut)
    image = paint_hanging_hair(astronaut, plain.faces[0].vertices_px)
    long_haired = photo.run(image)
    sections = []
    for picture, found in ((astronaut, plain), (image, long_haired)):
        face = found.faces[0]
        bust = build_bust(face.vertices_mm, face_triangles(), BustOptions(style=style), image=picture,
                          vertices_px=face.vertices_px, person=found.persons[0])
        assert bust.checks["watertight"] and bust.checks["shells"] == 1
        sections.append(_chin_section_mm2(bust, face))
    assert sections[1] > LONG_HAIR_SECTION_GAIN[style] * sections[0]


# --- hair detail from shading ---------------------------------------------------------------------

HAIR_TEST_RADIUS_MM = 100.0
HAIR_TEST_PX_PER_MM = 2.0
HAIR_TEST_STRIPE_MM = 24.0  # locks across the hair: the period of the test's light and dark bands


def _hair_scene(luminance_of_x, px_per_mm=HAIR_TEST_PX_PER_MM):
    """A sphere of hair seen from the front by an affine camera, lit in vertical bands:
    ``(points, faces, head_to_image, image, hair_mask, head)``. The hair is the upper part
    of the picture (above 25 mm), the face nowhere (its mesh only gives the eyes' height, 0)."""
    from realtime.printing import surface
    from realtime.topology import N_VERTICES

    directions, faces = surface.warped_sphere(5)
    points = directions * HAIR_TEST_RADIUS_MM
    size = int(2.6 * HAIR_TEST_RADIUS_MM * px_per_mm)
    centre = size / 2
    # Image x to the right along head x, image y down along head -y: the camera looks along -z.
    head_to_image = np.array([[px_per_mm, 0, 0, centre], [0, -px_per_mm, 0, centre]])
    x_mm = (np.arange(size) - centre) / px_per_mm
    gray = np.tile(luminance_of_x(x_mm), (size, 1))
    image = np.repeat(np.clip(gray * 255, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    rows = np.arange(size)[:, None] * np.ones((1, size))
    hair_mask = (centre - rows) / px_per_mm > 25.0
    return points, faces, head_to_image, image, hair_mask, np.zeros((N_VERTICES, 3))


def _stripes(x_mm):
    return 0.5 + 0.15 * np.cos(2 * np.pi * x_mm / HAIR_TEST_STRIPE_MM)


@pytest.mark.parametrize("px_per_mm", [HAIR_TEST_PX_PER_MM, 7.0])  # a small photo, and a large one filtered smaller
def test_hair_detail_follows_the_hair_s_shading_where_it_is_seen(px_per_mm):
    from realtime.printing import surface

    points, faces, m, image, hair_mask, head = _hair_scene(_stripes, px_per_mm)
    detail = surface.hair_detail(points, faces, np.zeros(len(points)), m, image, hair_mask, head)
    x, y, z = points.T
    cos_view = points[:, 2] / HAIR_TEST_RADIUS_MM
    clear = (cos_view > surface.HAIR_MIN_FACING + 0.25) & (y > 25.0 + surface.HAIR_EDGE_MARGIN_MM + 3)
    # Dark bands are the gaps between locks (in), light ones the locks (out), in step with the light.
    light = np.cos(2 * np.pi * x[clear] / HAIR_TEST_STRIPE_MM)
    assert np.corrcoef(detail[clear], light)[0, 1] > 0.9
    assert detail[clear][light > 0.9].mean() > 0.3 and detail[clear][light < -0.9].mean() < -0.3
    assert np.abs(detail).max() <= surface.HAIR_DETAIL_MAX_MM + 1e-9
    # Nothing where the photo does not show hair: below it, at the back, at a grazing angle, and in
    # the band at the eyes' height where spectacle arms run.
    assert np.all(detail[y < 25.0] == 0.0)
    assert np.all(detail[cos_view < surface.HAIR_MIN_FACING] == 0.0)
    # ...nor on the face.
    on_face = surface.hair_detail(points, faces, np.ones(len(points)), m, image, hair_mask, head)
    assert np.all(on_face == 0.0)


def test_dark_hair_gets_detail_too():
    # Dark brown and black hair lies at luminance 0.05-0.15 (photo_s2's: 0.09 at the median), below
    # the face's exposure floor (0.08, ramped in over 0.05): its locks and gaps came out flat.
    from realtime.printing import surface

    def dark(x_mm):
        return 0.10 + 0.03 * np.cos(2 * np.pi * x_mm / HAIR_TEST_STRIPE_MM)

    points, faces, m, image, hair_mask, head = _hair_scene(dark)
    detail = surface.hair_detail(points, faces, np.zeros(len(points)), m, image, hair_mask, head)
    cos_view = points[:, 2] / HAIR_TEST_RADIUS_MM
    clear = (cos_view > surface.HAIR_MIN_FACING + 0.25) & (points[:, 1] > 25.0 + surface.HAIR_EDGE_MARGIN_MM + 3)
    light = np.cos(2 * np.pi * points[clear, 0] / HAIR_TEST_STRIPE_MM)
    assert detail[clear][light > 0.9].mean() > 0.3 and detail[clear][light < -0.9].mean() < -0.3


def test_hair_detail_is_no_finer_than_the_surface_can_carry():
    # Light and dark bands 4 mm apart on hair whose vertices lie ~ 3.2 mm apart (the test sphere's,
    # as on an 80 mm bust's hair): sampled by the vertices they alias, each vertex in or out at
    # random; filtered to the vertices' spacing they leave the surface as it is.
    from realtime.printing import surface

    def fine(x_mm):
        return 0.5 + 0.4 * np.cos(2 * np.pi * x_mm / 4.0)

    points, faces, m, image, hair_mask, head = _hair_scene(fine)
    detail = surface.hair_detail(points, faces, np.zeros(len(points)), m, image, hair_mask, head)
    spacing = np.median(surface.vertex_spacing(points, faces)[points[:, 2] > 50.0])
    assert 2.5 < spacing < 4.0
    assert np.abs(detail).max() < 0.1  # 0.34 mm where the shading was kept to 1.2 mm


def test_vertex_spacing_is_the_mean_edge_at_each_vertex():
    import trimesh

    from realtime.printing import surface

    solid = trimesh.creation.icosahedron()
    edge = solid.edges_unique_length[0]
    spacing = surface.vertex_spacing(10.0 * solid.vertices, solid.faces)
    assert np.allclose(spacing, 10.0 * edge)
    # A fan of two triangles: the hub's edges are 1, 1 and sqrt(2) long, counted per face.
    square = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    spacing = surface.vertex_spacing(square, np.array([[0, 1, 2], [0, 2, 3]]))
    assert spacing[0] == pytest.approx((1.0 + 2.0 * np.sqrt(2.0) + 1.0) / 4.0)


def test_a_masked_blur_takes_no_light_from_outside_the_mask():
    from realtime.printing import surface

    gray = np.full((60, 60), 0.3, np.float32)
    gray[:, 30:] = 0.9
    hair = np.zeros((60, 60), bool)
    hair[:, :30] = True
    blurred = surface.masked_blur(gray, hair, 6.0)
    assert np.allclose(blurred[:, :30], 0.3, atol=1e-5)
    assert np.allclose(blurred[:, 56:], 0.9)  # no hair within 4 sigmas: the photo as it is
    assert np.allclose(surface.local_contrast(gray, 6.0, 1.0, hair)[0][:, :30], 0.0, atol=0.005)
    assert surface.local_contrast(gray, 6.0, 1.0)[0][:, 20:30].min() < -0.2  # the light beside it counted


def test_a_parting_s_skin_cuts_no_groove_into_the_hair_beside_it():
    # Even hair with a bright line of skin down its middle (a parting) that the hair mask leaves
    # out: the hair beside it is as light as the rest of the hair, so it gets no detail.
    from realtime.printing import surface

    def parted(x_mm):
        return np.where(np.abs(x_mm) < 1.5, 0.9, 0.3)

    points, faces, m, image, hair_mask, head = _hair_scene(parted)
    size = image.shape[1]
    x_mm = (np.arange(size) - size / 2) / HAIR_TEST_PX_PER_MM
    hair_mask = hair_mask & (np.abs(x_mm) >= 1.5)[None, :]
    detail = surface.hair_detail(points, faces, np.zeros(len(points)), m, image, hair_mask, head)
    beside = (np.abs(points[:, 0]) > 8.0) & (np.abs(points[:, 0]) < 20.0) & (points[:, 1] > 40.0)
    beside &= points[:, 2] / HAIR_TEST_RADIUS_MM > surface.HAIR_MIN_FACING + 0.25
    assert beside.sum() > 20
    assert np.abs(detail[beside]).max() < 0.05  # grooves up to 0.31 mm deep when the skin counted


def test_hair_detail_is_off_where_spectacle_arms_run():
    from realtime.printing import surface

    points, faces, m, image, _, head = _hair_scene(_stripes)
    everywhere = np.ones(image.shape[:2], bool)
    detail = surface.hair_detail(points, faces, np.zeros(len(points)), m, image, everywhere, head)
    band = np.abs(points[:, 1]) < surface.HAIR_TEMPLE_BAND_MM
    assert np.all(detail[band] == 0.0)
    assert np.abs(detail[points[:, 1] > surface.HAIR_TEMPLE_BAND_MM + 6]).max() > 0.3


def test_evenly_lit_or_clipped_hair_gives_no_detail():
    from realtime.printing import surface

    for luminance in (lambda x: np.full_like(x, 0.5), lambda x: np.where(np.cos(x / 4) > 0, 0.02, 0.04)):
        points, faces, m, image, hair_mask, head = _hair_scene(luminance)
        detail = surface.hair_detail(points, faces, np.zeros(len(points)), m, image, hair_mask, head)
        assert np.abs(detail).max() < 0.02


def test_only_the_surface_the_camera_sees_is_seen():
    from realtime.printing import surface

    points, faces, m, *_ = _hair_scene(_stripes)
    seen = surface.seen_from(points, faces, m)
    # Seen: the front, up to where it is too grazing for detail anyway; not seen: the back.
    assert seen[points[:, 2] > surface.HAIR_MIN_FACING * HAIR_TEST_RADIUS_MM].all()
    assert not seen[points[:, 2] < -0.2 * HAIR_TEST_RADIUS_MM].any()
    # A second sphere in front hides the middle of the first.
    from realtime.printing.surface import warped_sphere

    small, small_faces = warped_sphere(4)
    front = small * 30.0 + np.array([0.0, 0.0, 150.0])
    both = np.vstack([points, front])
    seen = surface.seen_from(both, np.vstack([faces, small_faces + len(points)]), m)[: len(points)]
    behind = (np.hypot(points[:, 0], points[:, 1]) < 20) & (points[:, 2] > 0)
    assert behind.any() and not seen[behind].any()
    # Only the triangles facing the camera are rasterised: which those are follows the surface's
    # own winding, so a surface wound the other way round is seen alike.
    reversed_faces = np.vstack([faces, small_faces + len(points)])[:, ::-1]
    assert np.array_equal(surface.seen_from(both, reversed_faces, m)[: len(points)], seen)


@pytest.mark.parametrize("style", ["bust", "head", "relief", "mask"])
def test_a_photo_s_hair_gets_detail_and_the_bust_stays_printable(people, monkeypatch, style):
    from realtime.printing import surface

    image, face, person = people["hopper"]
    made = []
    original = surface.hair_detail

    def keep(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(surface, "hair_detail", keep)
    bust = build_bust(face.vertices_mm, face_triangles(), BustOptions(style=style), image=image,
                      vertices_px=face.vertices_px, person=person)
    assert len(made) == 1 and (np.abs(made[0]) > 0.2).sum() >= 20
    checks = bust.checks
    assert checks["watertight"] and checks["shells"] == 1 and checks["min_wall_mm"] >= 1.2


def _astronaut_on_her_crop(people):
    """The astronaut's photo, face and person mask, her posed head (``(468, 3)`` mm, head style),
    and on her mask's crop: her face ``(468, 2)``, chin ``(2,)`` and face height, pixels."""
    from realtime import topology
    from realtime.printing import bust

    image, face, person = people["astronaut"]
    head = bust._posed_head(face.vertices_mm, BustOptions(style="head"))[0]
    crop_v = person.to_crop(face.vertices_px)
    chin = crop_v[topology.CHIN]
    return image, face, person, head, crop_v, chin, float(np.linalg.norm(crop_v[topology.FOREHEAD_TOP] - chin))


def test_a_shoulder_raised_to_the_chin_is_not_head(people):
    # The person's shoulder rises a few pixels above the chin's row out to the side, joined to the
    # head along it (a shrug, an arm raised beside the head). Where the labels call it hair (as on
    # a white blouse against a bright photo), the head's outline followed it and the hair grew a
    # fin down to the shoulder (photo_s1).
    import dataclasses

    from realtime.printing import silhouette, surface

    image, face, person, head, crop_v, chin, face_height = _astronaut_on_her_crop(people)
    probability = person.probability.copy()
    probability[int(chin[1]) - 3:int(chin[1]) + int(0.6 * face_height), int(chin[0]):] = 1.0
    outlines = []
    for mask in (person, dataclasses.replace(person, probability=probability)):
        # No hair region given: everything of the head above the chin outside the face may be hair.
        sil = silhouette.build_silhouette(mask.probability, mask.seen, mask.crop_from_image, head,
                                          face.vertices_px, surface.fit_head(head).centre)
        outlines.append(sil.head_px)
    assert np.max(outlines[1] - outlines[0]) < 0.05 * face_height


def _spill_above_chin(image, face, person, bust) -> float:
    """Share of the bust's silhouette above the chin that lies outside the person in the photo."""
    h, w = image.shape[:2]
    silhouette = overlay.silhouette_mask(bust.mesh.vertices, bust.mesh.faces, bust.view, (w, h))
    silhouette &= overlay.above_chin(face.vertices_px, (w, h))
    mask = overlay.person_region(person.in_image(w, h), face.vertices_px)
    return np.count_nonzero(silhouette & ~mask) / max(1, np.count_nonzero(silhouette))


MAX_SPILL = 0.03  # share of the silhouette above the chin; the astronaut's own bust: 0.009


def _drawn_head_on_her_crop(people, half_height: float):
    """The astronaut's face, mask and posed head on her crop (``_astronaut_on_her_crop``) with a head
    drawn on the crop: her face's oval widened by 6 px, ``half_height`` face heights high about the
    middle of her forehead and chin. Returns ``(face, person, head, crop_v, chin, face_height, xs, ys,
    drawn (S, S) bool)``."""
    from realtime import topology

    image, face, person, head, crop_v, chin, face_height = _astronaut_on_her_crop(people)
    size = person.probability.shape[0]
    ys, xs = np.mgrid[0:size, 0:size]
    centre = 0.5 * (crop_v[topology.FOREHEAD_TOP] + chin)
    sides = np.sort(crop_v[[topology.FACE_SIDE_RIGHT, topology.FACE_SIDE_LEFT], 0])
    drawn = (((xs - centre[0]) / (0.5 * (sides[1] - sides[0]) + 6)) ** 2
             + ((ys - centre[1]) / (half_height * face_height)) ** 2 <= 1)
    return face, person, head, crop_v, chin, face_height, xs, ys, drawn


def _drawn_silhouette(face, person, head, probability, seen=None):
    """``build_silhouette`` of a drawn person ``probability (S, S)`` on the astronaut's crop."""
    import dataclasses

    from realtime.printing import silhouette, surface

    mask = dataclasses.replace(person, probability=probability.astype(np.float32),
                               seen=person.seen if seen is None else seen)
    return silhouette.build_silhouette(mask.probability, mask.seen, mask.crop_from_image, head, face.vertices_px,
                                       surface.fit_head(head).centre, silhouette.fit_affine_view(head, face.vertices_px))


def test_a_shoulder_beside_the_jaw_across_a_gap_grows_no_hair(people):
    # A shoulder raised beside the jaw, too thick for the head region's opening and joined to the
    # head only at the neck: rays from the head's centre leave the person at the cheek, cross the
    # background and end on the shoulder. The head outline's last pixel there lay on the shoulder,
    # and the hair grew a wedge across the gap to it, standing off the back of the head
    # (photo_two_faces, 8.6% of the bust's silhouette above the chin outside the person; 0.3% now).
    import trimesh

    from realtime import topology
    from realtime.printing import silhouette, surface

    # The face's own oval with a little hair above it, a neck, and a shoulder whose top reaches
    # 0.25 face heights above the chin's row, out to one face height beside the chin.
    face, person, head, crop_v, chin, face_height, xs, ys, drawn = _drawn_head_on_her_crop(people, 0.8)
    sides = np.sort(crop_v[[topology.FACE_SIDE_RIGHT, topology.FACE_SIDE_LEFT], 0])
    drawn |= (np.abs(xs - chin[0]) < 0.3 * (sides[1] - sides[0])) & (ys >= chin[1] - 0.3 * face_height)
    drawn |= (xs <= chin[0]) & (xs >= chin[0] - face_height) & (ys >= chin[1] - 0.25 * face_height)
    sil = _drawn_silhouette(face, person, head, drawn)
    directions = np.asarray(trimesh.creation.icosphere(subdivisions=5).vertices, np.float64)
    grown = silhouette.hair_radius(directions, np.minimum(surface.skull_radius(directions, surface.fit_head(head)),
                                                          silhouette.clip_radius(directions, sil)), sil)
    outline = silhouette.outline_px(sil.centre_mm + directions * grown[:, None], sil)
    # Nowhere does the grown head's outline pass the person's own outline by more than a few pixels.
    assert np.max(outline - sil.person_px) < 0.05 * face_height


def test_only_hair_the_photo_cuts_above_the_ears_goes_on_past_its_edge(people):
    # Cut bins carry the hair on past the photo's edge. A neighbour beside the jaw who runs off the
    # photo is not this head's hair: counted as a cut there, the head style of Obama's podium photo
    # (face_recognition's obama2.jpg) grew fins out to both neighbours at the jaw's height.
    from realtime import topology
    from realtime.printing import silhouette

    # Her head with hair 0.2 face heights over it, and a neighbour's shoulder from her jaw to the
    # photo's edge, a third of a face height high above her chin's row.
    face, person, head, crop_v, chin, face_height, xs, ys, drawn = _drawn_head_on_her_crop(people, 1.0)
    size = person.probability.shape[0]
    ears_row = crop_v[[topology.FACE_SIDE_RIGHT, topology.FACE_SIDE_LEFT], 1].mean()
    drawn |= (xs >= chin[0]) & (ys >= chin[1] - 0.33 * face_height)
    edge = int(chin[0] + 0.9 * face_height)  # the photo's right edge
    top = int(crop_v[topology.FOREHEAD_TOP, 1] - 0.1 * face_height)  # ... and its top, through the hair
    seen = person.seen & (xs < edge) & (ys >= top)
    sil = _drawn_silhouette(face, person, head, drawn & seen, seen)
    end_y = sil.centre_px[1] + np.sin(sil.angles) * np.minimum(sil.head_px, 4 * size)
    assert sil.cut[end_y < top + silhouette.EDGE_GAP_PX].sum() >= 10  # the crown, cut by the top
    assert not sil.cut[end_y > ears_row].any()  # not the neighbour beside her jaw


def test_the_bust_stays_inside_the_person_s_outline_however_the_hair_grows(people, monkeypatch):
    # The hair's growth may overshoot (a thickness carried round the back, a target on a stray
    # part of the mask); the photo's outline still bounds every direction across the view: the
    # bust seen from the photo's camera does not leave the person.
    from realtime.printing import silhouette

    image, face, person = people["astronaut"]
    grown = silhouette.hair_radius
    monkeypatch.setattr(silhouette, "hair_radius", lambda directions, base, sil, fade, **kwargs: grown(
        directions, base, sil, fade, **kwargs) + 60.0)
    bust = build_bust(face.vertices_mm, face_triangles(), BustOptions(style="head"), image=image,
                      vertices_px=face.vertices_px, person=person)
    assert _spill_above_chin(image, face, person, bust) < MAX_SPILL


def test_a_turned_face_whose_nose_tip_leaves_the_mask_keeps_its_hair(gl_ctx, photo):
    # A face turned 50 deg: its nose tip stands off the face's outline, and a segmentation that
    # misses the tip (as on photo_emma's turned faces) left no head to grow hair from: the head
    # region was taken from the background's component and the bust came out bald (IoU 0.61 and
    # 0.73 there before, 0.83 and 0.96 after).
    import dataclasses

    from realtime import topology
    from realtime.camera import CameraIntrinsics
    from realtime.tools.synthetic_face import SyntheticFaceRenderer, astronaut_head, head_rotation, with_hair

    head, _ = with_hair(astronaut_head())
    with SyntheticFaceRenderer(gl_ctx, head) as renderer:
        image = renderer.render(head_rotation(50.0, 5.0), np.array([0.0, 0.0, 550.0]),
                                CameraIntrinsics.default(640, 480))
    found = photo.run(image)
    face, person = found.faces[0], found.persons[0]
    nose = person.to_crop(face.vertices_px)[topology.NOSE_TIP]
    ys, xs = np.mgrid[0:person.probability.shape[0], 0:person.probability.shape[1]]
    probability = np.where(np.hypot(xs - nose[0], ys - nose[1]) < 5.0, 0.0, person.probability).astype(np.float32)
    missed = dataclasses.replace(person, probability=probability)
    bust = build_bust(face.vertices_mm, face_triangles(), BustOptions(style="head"), image=image,
                      vertices_px=face.vertices_px, person=missed)
    assert _iou_above_chin(image, face, person, bust) >= 0.9


def test_the_distances_command_compares_people_and_one_clip_s_frames(capsys, grace_hopper_path):
    # python -m realtime.tools.likeness distances PHOTO... --clip VIDEO: what BENCHMARKS' distinct
    # people figures come from. One photo and the built-in clip: one pair of different people (the
    # photo and the clip's first frame), three pairs of the clip's own frames. (The built-in clip
    # zooms in until its frame cuts the shoulders, so its own frames are not close: no order is
    # asked of the two here; test_different_people_give_visibly_different_busts asks it of real copies.)
    from realtime.tools import likeness

    assert likeness.main(["distances", grace_hopper_path, "--clip", "demo"]) == 0
    line = capsys.readouterr().out.strip()
    assert "(1 pairs)" in line and "(3 pairs)" in line, line
    different, same = (float(part.split("median ")[1].split(" mm")[0]) for part in line.split(";")[:2])
    ratio = float(line.rsplit("ratio ", 1)[1])
    assert different > 0 and same > 0 and ratio == pytest.approx(different / same, rel=0.02)


def test_the_askew_command_compares_turned_photos_busts_with_the_upright_one_s(capsys, face_photo_path):
    # python -m realtime.tools.likeness askew PHOTO...: what BENCHMARKS' "A camera held askew" table
    # comes from. The astronaut turned 10 deg: her room's lean is read (+9.3), and the levelled
    # bust lies closer to the upright photo's than the one on the photo's up (measured 3.58 -> 0.84).
    from realtime.tools import likeness

    assert likeness.main(["askew", face_photo_path, "--leans", "10"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    row = lines[0].split(": ", 1)[1]
    before, after = (float(value) for value in row.split(" mm")[0].split(": ")[-1].split(" -> "))
    read = float(row.split("(read ")[1].rstrip(")"))
    assert read == pytest.approx(10.0, abs=1.5) and after < 0.5 * before
    assert lines[1].startswith("read 1 of 1:")


def test_a_whole_turned_photo_keeps_all_of_it_and_says_where_each_pixel_went():
    from realtime.tools.likeness import whole_turned_photo

    image = np.zeros((60, 100, 3), np.uint8)
    image[10, 20] = image[50, 90] = 255  # two marks, near opposite corners
    for turn_deg, size in ((90, (100, 60)), (180, (60, 100)), (30, None)):
        turned, turn = whole_turned_photo(image, turn_deg)
        if size is not None:
            assert turned.shape[:2] == size
        for x, y in ((20, 10), (90, 50)):
            to_x, to_y = turn[:, :2] @ (x, y) + turn[:, 2]
            # The mark is where the affine says (bilinear: its brightest neighbour) and inside.
            around = turned[int(to_y) - 1:int(to_y) + 3, int(to_x) - 1:int(to_x) + 3, 0]
            assert around.max() > 60, (turn_deg, x, y, to_x, to_y)
    # Counter-clockwise as seen: a quarter turn takes the top-left mark to the bottom-left.
    _, turn = whole_turned_photo(image, 90)
    to_x, to_y = turn[:, :2] @ (20, 10) + turn[:, 2]
    assert to_x < 30 and to_y > 70


def test_a_turned_photo_s_face_is_measured_against_the_nearest_upright_face_turned_alike():
    from realtime.tools.likeness import landmark_gap

    rng = np.random.default_rng(3)
    near = rng.uniform(0, 100, (468, 2))  # 100 px wide
    far = near + (400.0, 0.0)
    angle = np.radians(90)
    turn = np.array([[np.cos(angle), np.sin(angle), 500.0], [-np.sin(angle), np.cos(angle), 700.0]])
    found = near @ turn[:, :2].T + turn[:, 2]
    assert landmark_gap(found, [far, near], turn) == pytest.approx(0.0, abs=1e-9)
    width = np.ptp(near[:, 0])
    assert landmark_gap(found + (0.0, 0.2 * width), [near, far], turn) == pytest.approx(0.2, abs=1e-6)
    assert landmark_gap(near, [near], turn) > 1.0  # where it lay upright: not where it went
    assert landmark_gap(found, [], turn) == float("inf")


def test_the_turned_command_counts_where_a_turned_photo_s_face_is_the_upright_one_s(capsys, face_photo_path, tmp_path):
    # python -m realtime.tools.likeness turned PHOTO...: what BENCHMARKS' "turned half round" sweep
    # comes from. The astronaut a quarter and half a turn round: her face is found where it went.
    import json

    from realtime.tools import likeness

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((64, 64, 3), 128, np.uint8))
    report = tmp_path / "turned.json"
    assert likeness.main(["turned", face_photo_path, str(blank), "--turns", "90,180", "--json", str(report)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "4 turned photos: 2 right, 0 wrong, 2 no face", lines
    rows = json.loads(report.read_text())[face_photo_path]
    assert [row["turn_deg"] for row in rows] == [90, 180]
    assert all(row["verdict"] == "right" and row["gap"] < 0.03 and row["score"] > 0.8 for row in rows), rows
    assert rows[1]["upside_down"] and not rows[0]["upside_down"]
    # A quarter counter-clockwise lays her up toward the photo's left: searched turned back.
    assert rows[0]["sideways"] == -1 and rows[1]["sideways"] == 0


def test_the_crown_command_reports_each_photo_s_cut_bust_against_its_whole(capsys, grace_hopper_path, tmp_path):
    # python -m realtime.tools.likeness crown PHOTO...: what BENCHMARKS' cut-photo figures come from.
    from realtime.tools import likeness

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((64, 64, 3), 128, np.uint8))
    assert likeness.main(["crown", grace_hopper_path, str(blank)]) == 0
    hopper, no_face = capsys.readouterr().out.strip().splitlines()
    iou = float(hopper.split("IoU ")[1].split(",")[0])
    area = float(hopper.split("area ")[1].split(" ")[0])
    assert 0.5 < iou <= 1.0 and 0.5 < area < 2.0, hopper
    assert no_face.endswith("no face")


def _raised_shoulders_scene(people):
    """A person drawn on the astronaut's crop: her face and an oval head, a neck, and shoulders from
    0.35 face heights below the chin. Returns ``(head (468, 3) mm, face, person mask, crop
    pixels: chin (2,), face sides' columns (2,), face height)``."""
    from realtime import topology
    from realtime.printing import bust

    image, face, person = people["astronaut"]
    head = bust._posed_head(face.vertices_mm, BustOptions())[0]
    crop_v = person.to_crop(face.vertices_px)
    chin = crop_v[topology.CHIN]
    sides = np.sort(crop_v[[topology.FACE_SIDE_RIGHT, topology.FACE_SIDE_LEFT], 0])
    face_height = float(np.linalg.norm(crop_v[topology.FOREHEAD_TOP] - chin))
    size = person.probability.shape[0]
    ys, xs = np.mgrid[0:size, 0:size]
    centre = 0.5 * (crop_v[topology.FOREHEAD_TOP] + chin)
    drawn = ((xs - centre[0]) / (0.5 * (sides[1] - sides[0]) + 4)) ** 2 + ((ys - centre[1]) / (0.75 * face_height)) ** 2 <= 1
    drawn |= (np.abs(xs - chin[0]) < 0.3 * (sides[1] - sides[0])) & (ys >= chin[1] - 0.3 * face_height)
    drawn |= ys >= chin[1] + 0.35 * face_height
    return head, face, person, drawn, chin, sides, face_height


def _shoulder_tops(head, face, person, probability, hair_region=None):
    """The torso outline's top ``(n,)`` mm over body x ``(n,)``, and the chin's body height."""
    import dataclasses

    from realtime import topology
    from realtime.printing import bust, silhouette, surface, torso

    mask = dataclasses.replace(person, probability=probability.astype(np.float32))
    view = silhouette.fit_affine_view(head, face.vertices_px)
    sil = silhouette.build_silhouette(mask.probability, mask.seen, mask.crop_from_image, head, face.vertices_px,
                                      surface.fit_head(head).centre, view, hair_region)
    rotation = bust.body_frame(view)
    head_b = head @ rotation.T
    chin_y = head_b[topology.CHIN, 1]
    head_height = 230.0
    cut_y = chin_y - 0.62 * head_height
    face_height = float(np.linalg.norm(head[topology.FOREHEAD_TOP] - head[topology.CHIN]))
    face_width = float(np.linalg.norm(head[topology.FACE_SIDE_RIGHT] - head[topology.FACE_SIDE_LEFT]))
    highest_y = chin_y + silhouette.BODY_ABOVE_CHIN * face_height
    neck = np.array([head_b[topology.CHIN, 0], -20.0])

    def tops(xs):
        return silhouette.person_tops(sil, rotation, -20.0, xs, chin_y, cut_y, highest_y)

    shape = torso.build_torso(chin_y, cut_y, head_height, face_width, neck, tops, highest_y)
    xs, top = shape.outline[1:-1, 0], shape.outline[1:-1, 1]
    return xs - neck[0], top, chin_y, face_width, face_height


def test_shoulders_that_show_above_the_chin_are_the_torso_s(people):
    # A head bowed forward, or shoulders drawn up, show the shoulders above the chin beside the face
    # (photo_s2, by a quarter of the face's height). The torso's outline followed the person only
    # from the chin's height down, so such busts had shoulders flat at the chin (photo_s2's IoU
    # above the chin 0.87, 0.95 with them).
    head, face, person, drawn, chin, sides, face_height_px = _raised_shoulders_scene(people)
    ys, xs = np.mgrid[0:drawn.shape[0], 0:drawn.shape[1]]
    beside = (xs < sides[0] - 0.1 * face_height_px) | (xs > sides[1] + 0.1 * face_height_px)
    # Drawn up 0.25 face heights above the chin beside the face and falling away outward, as
    # shoulders do (0.25 px a px; photo_s2's 0.4).
    out = np.maximum(xs - sides[1], sides[0] - xs)
    raised = drawn | (beside & (ys >= chin[1] - 0.25 * face_height_px + 0.25 * out))
    x, flat, chin_y, face_width, face_height = _shoulder_tops(head, face, person, drawn)
    x_raised, top, _, _, _ = _shoulder_tops(head, face, person, raised)
    np.testing.assert_allclose(x_raised, x)
    shoulders = (np.abs(x) > 0.9 * face_width) & (np.abs(x) < 1.2 * face_width)
    raised_part = (np.abs(x) > 0.65 * face_width) & (np.abs(x) < 0.85 * face_width)
    neck = np.abs(x) < 0.15 * face_width
    assert flat[shoulders].max() < chin_y - 0.2 * face_height  # the drawn shoulders: 0.35 below
    assert top[raised_part].min() > chin_y + 0.1 * face_height  # drawn 0.13-0.2 above
    assert np.abs(top[neck] - chin_y).max() < 1.0  # the neck still ends at the chin

    # The same raised outline, where the labels call it hair, is hair hanging beside the face.
    hair = beside & (ys < chin[1])
    _, as_hair, _, _, _ = _shoulder_tops(head, face, person, raised, hair)
    assert as_hair[shoulders].max() <= chin_y + 1.0
    # An ear lobe below the ear (a blob beside the face, joined to the body only through the jaw
    # and neck in the face's columns) is not a shoulder.
    lobe = drawn | ((xs > sides[1] - 2) & (xs < sides[1] + 0.15 * face_height_px)
                    & (ys > chin[1] - 0.3 * face_height_px) & (ys < chin[1] - 0.1 * face_height_px))
    x_lobe, with_lobe, _, _, _ = _shoulder_tops(head, face, person, lobe)
    np.testing.assert_allclose(with_lobe, flat, atol=1.0)


def test_a_body_beside_the_head_past_the_shoulders_highest_is_not_the_shoulders(people):
    # Someone standing close behind the sitter's shoulder, or an arm raised beside the head: the
    # person mask beside the face goes on up past the highest a shoulder may show
    # (BODY_ABOVE_CHIN). Its top is not the shoulders'. The bust had a tower there as high as that
    # limit, and as high as the mask where it was lower in the same run of columns (obama2's
    # listeners, sample3's raised arm). The mean shoulders stand in, as where the photo ends.
    head, face, person, drawn, chin, sides, face_height_px = _raised_shoulders_scene(people)
    ys, xs = np.mgrid[0:drawn.shape[0], 0:drawn.shape[1]]
    # On the right, from 0.6 face heights above the chin beside the face, falling away outward as
    # a shoulder would (0.8 px a px) to below the chin: only its height says it is not a shoulder.
    out = xs - sides[1]
    behind = (out > 0.1 * face_height_px) & (ys >= chin[1] - 0.6 * face_height_px + 0.8 * out)
    no_hair = np.zeros_like(drawn)  # the labels' hair: none (without labels, beside the face is hair)
    x, flat, chin_y, face_width, _ = _shoulder_tops(head, face, person, drawn, no_hair)
    x_behind, top, _, _, _ = _shoulder_tops(head, face, person, drawn | behind, no_hair)
    right = x_behind > 0.5 * face_width + 10.0  # the body frame's x is the crop's columns
    assert right.sum() > 20
    # Nothing of it stands above the chin, its lower end included (the mean shoulders there).
    assert top[right].max() < chin_y + 1.0
    # The other side is as it was.
    other = x < -0.5 * face_width
    np.testing.assert_allclose(top[np.isin(x_behind, x[other])], flat[other], atol=1.0)
