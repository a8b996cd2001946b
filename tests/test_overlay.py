"""The fit's measure (``realtime.printing.overlay``): the bust's silhouette against the person's
outline above the chin, where the photo shows the person."""

import numpy as np
import pytest

from realtime import topology
from realtime.printing import overlay
from realtime.stages.segmentation import PersonMask

SIZE = 200


def _person_with_a_neighbour_in_front():
    """A round head on a ``SIZE`` square photo (the mask's crop is the photo itself) whose right side
    a neighbour hides (``seen`` False, probability 0 there), and a face mesh whose chin is low in it."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    head = (xs - 100) ** 2 + (ys - 80) ** 2 < 50**2
    hidden = (xs >= 130) & (ys >= 30) & (ys < 110)
    probability = np.where(head & ~hidden, 1.0, 0.0).astype(np.float32)
    mask = PersonMask(probability, ~hidden, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    vertices_px = np.tile([100.0, 80.0], (topology.N_VERTICES, 1))
    vertices_px[topology.CHIN] = (100.0, 150.0)
    vertices_px[topology.FOREHEAD_TOP] = (100.0, 40.0)
    return mask, vertices_px, head, hidden, xs, ys


def test_a_bust_is_not_marked_down_where_a_neighbour_hides_the_person():
    mask, vertices_px, head, hidden, xs, ys = _person_with_a_neighbour_in_front()
    # The bust's head is whole, behind the neighbour too: right where the mask cannot say.
    assert overlay.silhouette_iou(head, mask, vertices_px) == pytest.approx(1.0)
    # Counted there, the same bust fits worse by the hidden part of the head.
    naive = overlay.iou(head, mask.in_image(SIZE, SIZE) > 0.5, overlay.above_chin(vertices_px, (SIZE, SIZE)))
    assert naive < 0.9
    # Where the photo does show the person, a bust too wide still costs.
    too_wide = head | ((xs < 60) & (np.abs(ys - 80) < 30))
    assert overlay.silhouette_iou(too_wide, mask, vertices_px) < 0.9


def test_the_hidden_pixels_land_where_the_crop_puts_them():
    mask, _, _, hidden, _, _ = _person_with_a_neighbour_in_front()
    shifted = PersonMask(mask.probability, mask.seen, np.array([[1.0, 0.0, -10.0], [0.0, 1.0, -5.0]]))
    in_photo = shifted.hidden_in_image(SIZE + 20, SIZE + 20)
    # Crop pixel (x, y) is photo pixel (x + 10, y + 5); outside the crop nothing is hidden.
    assert np.array_equal(in_photo[5:SIZE + 5, 10:SIZE + 10], hidden)
    assert not in_photo[:5].any() and not in_photo[:, :10].any()
