import numpy as np
from numpy.testing import assert_allclose

from realtime.symmetry import build_mirror_permutation, mirror_permutation, mirror_vertices, rigid_fit

# Known mirror pairs of MediaPipe's mesh: outer and inner eye corners, cheek contour points.
KNOWN_PAIRS = [(33, 263), (133, 362), (234, 454), (61, 291)]
MIDLINE = [1, 4, 10, 152, 168]


def test_shipped_map_is_an_involution_with_the_known_pairs():
    permutation = mirror_permutation()
    assert permutation.shape == (468,)
    np.testing.assert_array_equal(permutation[permutation], np.arange(468))
    for a, b in KNOWN_PAIRS:
        assert permutation[a] == b and permutation[b] == a
    for i in MIDLINE:
        assert permutation[i] == i
    assert 20 <= int((permutation == np.arange(468)).sum()) <= 40  # the midline, not everything


def test_mirroring_a_symmetric_mesh_gives_it_back():
    rng = np.random.default_rng(3)
    permutation = mirror_permutation()
    # a perfectly symmetric synthetic mesh about x = 100 (image 200 wide)
    half = rng.normal(0, 20, (468, 3))
    vertices = np.empty_like(half)
    for i, j in enumerate(permutation):
        if i == j:
            vertices[i] = half[i] * [0, 1, 1]  # midline points sit on the mirror plane
        elif i < j:
            vertices[i] = half[i]
            vertices[j] = half[i] * [-1, 1, 1]
    vertices[:, 0] += 100
    back = mirror_vertices(vertices.astype(np.float32), 200)
    assert_allclose(back, vertices, atol=1e-4)


def test_build_recovers_a_known_permutation_from_geometry():
    rng = np.random.default_rng(5)
    left = rng.uniform([5, -50, -10], [60, 50, 10], (30, 3))
    midline = np.column_stack([np.zeros(6), np.linspace(-50, 50, 6), np.zeros(6)])
    vertices = np.vstack([left, left * [-1, 1, 1], midline])
    # tilt the whole face: the build must not assume a vertical midline
    angle = np.radians(10)
    roll = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    permutation = build_mirror_permutation(vertices @ roll.T + [300, 200, 0])
    expected = np.concatenate([np.arange(30, 60), np.arange(30), np.arange(60, 66)])
    np.testing.assert_array_equal(permutation, expected)


def test_rigid_fit_round_trip():
    rng = np.random.default_rng(7)
    points = rng.normal(size=(50, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation = q * np.sign(np.linalg.det(q))
    moved = points @ rotation + [1, 2, 3]
    fitted_rotation, translation = rigid_fit(points, moved)
    assert_allclose(points @ fitted_rotation + translation, moved, atol=1e-9)
