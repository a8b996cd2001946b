"""``realtime.printing.snapshot``: the live window's S key. It tracks one face, so the other people in
the frame are found at the snapshot and left out of the person's mask."""

import numpy as np
import pytest

from realtime.printing import overlay
from realtime.printing.snapshot import other_faces_in_frame, snapshot_bust


@pytest.fixture(scope="module")
def tracked(astronaut, two_people):
    """The face each frame's tracker would hold: the astronaut alone, and Hopper (the larger face)
    beside her."""
    from realtime.stages.photo import PhotoReconstructor

    with PhotoReconstructor() as photo:
        return {"alone": photo.run(astronaut).faces[0], "pair": photo.run(two_people).faces[0]}


def test_the_people_beside_the_tracked_face_are_found(astronaut, two_people, tracked):
    assert other_faces_in_frame(astronaut, tracked["alone"].vertices_px) == []
    beside = other_faces_in_frame(two_people, tracked["pair"].vertices_px)
    assert len(beside) == 1 and beside[0][1, 0] < 230  # the astronaut's nose tip, left of the seam


def test_a_snapshot_with_someone_beside_is_one_person_s_bust(two_people, tracked):
    # Hopper's snapshot beside the astronaut: its silhouette covered 28% of the frame left of the
    # seam above the chin (the astronaut's head as hair) before the snapshot looked for her.
    face = tracked["pair"]
    bust = snapshot_bust(face.vertices_mm, two_people, face.vertices_px)
    height, width = two_people.shape[:2]
    silhouette = overlay.silhouette_mask(bust.mesh.vertices, bust.mesh.faces, bust.view, (width, height))
    assert silhouette[:180, :230].mean() < 0.01
    assert silhouette[:180, 230:].mean() > 0.2 and bust.checks["watertight"]
