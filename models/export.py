"""Build the ONNX models from the MediaPipe wheel.

Build-time only: finds face_detection_short_range.tflite, face_landmark.tflite,
iris_landmark.tflite, selfie_segmentation.tflite (and its landscape variant)
and pose_landmark_full.tflite in the installed mediapipe==0.10.21 wheel,
converts them with tf2onnx, rewrites the graphs so that ONNX Runtime's CPU
provider runs them about as fast as TFLite with XNNPACK, checks every output
against TFLite on real face and person crops, benchmarks TFLite and ONNX
Runtime interleaved, and writes `<name>.onnx` and `manifest.json` next to this
file. Inputs are NHWC
uint8 BGR crops exactly as OpenCV cuts them, any batch size: the conversion to
the float RGB range MediaPipe feeds is part of the graph, so it runs on the
execution provider (on a GPU, a quarter of the bytes cross the bus and the
scaling is fused into the first convolution). Inputs and outputs get stable
names.

Run it from a build venv, never the run-time one (see models/README.md):

    python3 -m venv /tmp/exportenv
    /tmp/exportenv/bin/pip install mediapipe==0.10.21 tensorflow-cpu==2.19.1 \
        tf2onnx==1.17.0 onnx==1.22.0 onnxruntime==1.32.0 scikit-image==0.26.0 \
        numpy==1.26.4
    /tmp/exportenv/bin/python models/export.py
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

MEDIAPIPE_VERSION = "0.10.21"

# ONNX opset of the converted graphs. The face graphs only use Conv, Relu, Add,
# MaxPool, Transpose, Reshape and Concat, which are unchanged from 13 to 21,
# so the oldest opset that tf2onnx and every ONNX Runtime since 1.8 accept.
ONNX_OPSET = 13
# The selfie segmentation graphs use TFLite's HARD_SWISH, which ONNX has as one
# operator only from opset 14 (tf2onnx refuses it below); ONNX Runtime fuses it
# into the preceding Conv.
HARD_SWISH_OPSET = 14

# The three MediaPipe networks are small enough that a second intra-op thread
# costs more in synchronisation than it saves: on a 2-core machine, 2 threads
# without spinning were 30 % slower than 1, and with spinning only 6 % faster
# while keeping the core that capture and rendering need busy. ORT_ENABLE_ALL
# is needed for the NCHWc layout, which is where the speed comes from.
CPU_SESSION_OPTIONS = {
    "intra_op_num_threads": 1,
    "inter_op_num_threads": 1,
    "execution_mode": "ORT_SEQUENTIAL",
    "graph_optimization_level": "ORT_ENABLE_ALL",
    "allow_spinning": False,
}

# TFLite's XNNPACK delegate with one thread is what MediaPipe's desktop CPU
# graphs run, so that is the reference for both accuracy and speed.
TFLITE_THREADS = 1

# Largest acceptable difference between TFLite and ONNX Runtime outputs. Both
# run float32 arithmetic; the difference is summation order only.
LANDMARK_TOLERANCE_PX = 0.01  # pixels of the model's input crop
LOGIT_TOLERANCE = 0.01  # face_flag and classificators logits
REGRESSOR_TOLERANCE_PX = 0.01  # pixels of the 128x128 detector input
# A person probability in [0, 1]. A mask is thresholded or blended, so 0.001 is
# a quarter of one grey level of an 8-bit alpha: invisible, yet about 7x the
# largest difference measured (1.5e-04, selfie_segmentation).
PROBABILITY_TOLERANCE = 1e-3
# Metres, for pose world landmarks: 0.2 mm, far below the model's own error
# (centimetres) and about 5x the largest difference measured (4e-05 m).
WORLD_TOLERANCE_M = 2e-4
# pose_landmark_full is numerically touchier than the face models: on the same
# crops TFLite's own two CPU paths (XNNPACK and its built-in kernels) differ by
# up to 6e-3 px in landmarks and 6e-3 in the sigmoid of the segmentation logits
# (which reach -1800: large sums that cancel), and ONNX Runtime lies as close to
# either as they lie to each other. The tolerances are about 3x that spread.
POSE_LANDMARK_TOLERANCE_PX = 0.02  # pixels of the 256x256 crop
# The pose segmentation and heatmap logits are only ever used through a
# sigmoid, so they are compared as sigmoid(logit): a logit of -1800 that moves
# by 3 changes nothing, one of 0 that moves by 0.04 changes the mask by 0.01.
POSE_SIGMOID_TOLERANCE = 0.02
# TensorsToPoseLandmarksAndSegmentation: ThresholdingCalculator threshold.
MIN_POSE_PRESENCE = 0.5

# Benchmark: iterations per model, timed interleaved so that load from other
# work on the machine hits every runner alike; warm-up calls are not timed.
BENCH_ITERATIONS = 500
BENCH_WARMUP = 50

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One named tensor of a model as written to manifest.json."""

    name: str
    shape: tuple[int, ...]
    meaning: str = ""
    # inputs: the float range the network is fed; outputs: the range the values
    # lie in, where the network bounds it (probabilities), else None
    value_range: tuple[float, float] | None = None
    # outputs: largest acceptable |ONNX Runtime - TFLite| (unit as `meaning`)
    tolerance: float = 0.0
    # outputs: compare sigmoid(value) rather than the value (logit maps whose
    # only use is through a sigmoid)
    compare_sigmoid: bool = False


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to find, rename and describe one MediaPipe network."""

    name: str
    source: str  # path inside the mediapipe package
    input: TensorSpec
    outputs: tuple[TensorSpec, ...]
    tflite_outputs: tuple[str, ...]  # tflite tensor names, same order as outputs
    opset: int = ONNX_OPSET
    # Store the weights as float16 with a Cast to float32, which ONNX Runtime
    # folds when the session starts (see float16_weights). Off for the face
    # models, whose files are kept byte-identical to their first build.
    float16_weights: bool = False
    # (output name, threshold): MediaPipe discards every other output of a crop
    # whose value of this output is below the threshold, so they are compared
    # with TFLite only on crops that pass it.
    gate: tuple[str, float] | None = None
    # The notice written into the file's doc_string (the face models' text is
    # kept as first built, so that their files stay byte-identical).
    copyright: str = "Copyright 2020 The MediaPipe Authors"


MODELS = (
    ModelSpec(
        name="face_detection_short_range",
        source="modules/face_detection/face_detection_short_range.tflite",
        # FaceDetection graph: ImageToTensorCalculator output_tensor_float_range
        # {min: -1 max: 1}, letterboxed (keep_aspect_ratio) with zeros.
        input=TensorSpec("image", (1, 128, 128, 3), value_range=(-1.0, 1.0)),
        outputs=(
            TensorSpec(
                "regressors",
                (1, 896, 16),
                "per SSD anchor: box centre offset dx, dy, box w, h, then 6 "
                "keypoints (x, y) offsets, in pixels of the 128x128 input; "
                "decode with the anchors in models/README.md",
                tolerance=REGRESSOR_TOLERANCE_PX,
            ),
            TensorSpec(
                "classificators",
                (1, 896, 1),
                "per SSD anchor face score logit; clip to [-100, 100] and "
                "apply sigmoid",
                tolerance=LOGIT_TOLERANCE,
            ),
        ),
        tflite_outputs=("regressors", "classificators"),
    ),
    ModelSpec(
        name="face_landmark",
        source="modules/face_landmark/face_landmark.tflite",
        # FaceLandmarkCpu graph: ImageToTensorCalculator 192x192, range [0, 1].
        input=TensorSpec("image", (1, 192, 192, 3), value_range=(0.0, 1.0)),
        outputs=(
            TensorSpec(
                "landmarks",
                (1, 1, 1, 1404),
                "468 x (x, y, z) in pixels of the 192x192 input crop; z has "
                "the scale of x and is relative to the face centre, smaller "
                "is nearer the camera",
                tolerance=LANDMARK_TOLERANCE_PX,
            ),
            TensorSpec(
                "face_flag",
                (1, 1, 1, 1),
                "face presence logit; sigmoid gives the probability that the "
                "crop holds a face",
                tolerance=LOGIT_TOLERANCE,
            ),
        ),
        tflite_outputs=("conv2d_21", "conv2d_31"),
    ),
    ModelSpec(
        name="iris_landmark",
        source="modules/iris_landmark/iris_landmark.tflite",
        # IrisLandmarkCpu graph: TfLiteConverterCalculator zero_center: false,
        # i.e. range [0, 1]; the model only knows left eyes, so right-eye
        # crops are flipped horizontally before and after.
        input=TensorSpec("image", (1, 64, 64, 3), value_range=(0.0, 1.0)),
        outputs=(
            TensorSpec(
                "eye_contours",
                (1, 213),
                "71 x (x, y, z) eye contour and brow landmarks in pixels of "
                "the 64x64 input crop",
                tolerance=LANDMARK_TOLERANCE_PX,
            ),
            TensorSpec(
                "iris",
                (1, 15),
                "5 x (x, y, z) iris landmarks (centre, then 4 on the rim) in "
                "pixels of the 64x64 input crop",
                tolerance=LANDMARK_TOLERANCE_PX,
            ),
        ),
        tflite_outputs=("output_eyes_contours_and_brows", "output_iris"),
    ),
    ModelSpec(
        name="selfie_segmentation",
        source="modules/selfie_segmentation/selfie_segmentation.tflite",
        # SelfieSegmentationCpu graph (model_selection 0): ImageToTensorCalculator
        # 256x256, keep_aspect_ratio false (the whole frame, stretched),
        # output_tensor_float_range {min: 0 max: 1}; TensorsToSegmentation with
        # activation NONE, because the network ends in a sigmoid.
        input=TensorSpec("image", (1, 256, 256, 3), value_range=(0.0, 1.0)),
        outputs=(
            TensorSpec(
                "mask",
                (1, 256, 256, 1),
                "per pixel of the 256x256 input, the probability that it shows "
                "a person (hair included); already a probability: MediaPipe "
                "applies no activation",
                value_range=(0.0, 1.0),
                tolerance=PROBABILITY_TOLERANCE,
            ),
        ),
        tflite_outputs=("activation_10",),
        opset=HARD_SWISH_OPSET,
        float16_weights=True,
        copyright="Copyright The MediaPipe Authors",
    ),
    ModelSpec(
        name="selfie_segmentation_landscape",
        source="modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
        # SelfieSegmentationCpu graph (model_selection 1): as the general model
        # but 256 wide and 144 high.
        input=TensorSpec("image", (1, 144, 256, 3), value_range=(0.0, 1.0)),
        outputs=(
            TensorSpec(
                "mask",
                (1, 144, 256, 1),
                "per pixel of the 256x144 input, the probability that it shows "
                "a person (hair included); already a probability: MediaPipe "
                "applies no activation",
                value_range=(0.0, 1.0),
                tolerance=PROBABILITY_TOLERANCE,
            ),
        ),
        tflite_outputs=("segment_back",),
        opset=HARD_SWISH_OPSET,
        float16_weights=True,
        copyright="Copyright The MediaPipe Authors",
    ),
    ModelSpec(
        name="pose_landmark_full",
        source="modules/pose_landmark/pose_landmark_full.tflite",
        # PoseLandmarkByRoiCpu graph: ImageToTensorCalculator 256x256,
        # keep_aspect_ratio true, output_tensor_float_range {min: 0 max: 1},
        # on the rotated square body ROI; outputs split and decoded by
        # TensorsToPoseLandmarksAndSegmentation (see models/README.md).
        input=TensorSpec("image", (1, 256, 256, 3), value_range=(0.0, 1.0)),
        outputs=(
            TensorSpec(
                "landmarks",
                (1, 195),
                "39 x (x, y, z, visibility, presence): x, y in pixels of the "
                "256x256 input crop, z in the same scale relative to the hips' "
                "midpoint (smaller is nearer the camera), visibility and "
                "presence logits (sigmoid gives the probability); 0-32 are the "
                "BlazePose body points, 33-34 the auxiliary points that place "
                "the next frame's crop, 35-38 are unused by MediaPipe",
                tolerance=POSE_LANDMARK_TOLERANCE_PX,
            ),
            TensorSpec(
                "pose_flag",
                (1, 1),
                "probability that the crop holds a person (the network ends "
                "in a sigmoid); MediaPipe drops the pose below 0.5",
                value_range=(0.0, 1.0),
                tolerance=PROBABILITY_TOLERANCE,
            ),
            TensorSpec(
                "segmentation",
                (1, 256, 256, 1),
                "per pixel of the 256x256 input, a person logit; sigmoid gives "
                "the probability (MediaPipe applies activation SIGMOID)",
                tolerance=POSE_SIGMOID_TOLERANCE,
                compare_sigmoid=True,
            ),
            TensorSpec(
                "heatmap",
                (1, 64, 64, 39),
                "per landmark, a 64x64 map of logits over the input crop (cell "
                "= 4x4 input pixels); MediaPipe refines x, y as the sigmoid-"
                "weighted mean of the 7x7 cells around the landmark",
                tolerance=PROBABILITY_TOLERANCE,
                compare_sigmoid=True,
            ),
            TensorSpec(
                "world_landmarks",
                (1, 117),
                "39 x (x, y, z) in metres, origin at the hips' midpoint, y "
                "down; the first 33 are the body points",
                tolerance=WORLD_TOLERANCE_M,
            ),
        ),
        tflite_outputs=("Identity", "Identity_1", "Identity_2", "Identity_3", "Identity_4"),
        # TensorsToPoseLandmarksAndSegmentation: ThresholdingCalculator 0.5 on
        # the pose flag gates landmarks, world landmarks, mask and heatmap. On a
        # crop without a person the gated outputs are noise that TFLite's own
        # XNNPACK and built-in kernels disagree on by 1.4 px.
        gate=("pose_flag", MIN_POSE_PRESENCE),
        float16_weights=True,
        copyright="Copyright The MediaPipe Authors",
    ),
)

# MediaPipe FaceDetection graph (face_detection_short_range), SsdAnchors and
# TensorsToDetections options, read from the graph compiled into the wheel.
ANCHOR_OPTIONS = {
    "num_layers": 4,
    "min_scale": 0.1484375,
    "max_scale": 0.75,
    "input_size": 128,
    "anchor_offset": 0.5,
    "strides": (8, 16, 16, 16),
    "aspect_ratios": (1.0,),
    "interpolated_scale_aspect_ratio": 1.0,
    "fixed_anchor_size": True,
}
DETECTION_SCALE = 128.0  # x_scale, y_scale, w_scale, h_scale
SCORE_CLIP = 100.0  # score_clipping_thresh

NUM_ANCHORS = 896  # num_boxes
MIN_FACE_SCORE = 0.5  # min_score_thresh

# MediaPipe crop geometry, used to cut realistic test inputs.
FACE_ROI_SCALE = 1.5  # FaceDetectionFrontDetectionToRoi scale_x/scale_y
EYE_ROI_SCALE = 2.3  # IrisLandmarkLandmarksToRoi scale_x/scale_y
# Mesh indices of the eye corners. MediaPipe's "left" eye is the one on the
# image's left (the subject's right); the iris model only knows that one.
LEFT_EYE_CORNERS = (33, 133)
RIGHT_EYE_CORNERS = (362, 263)

# Test crops per model, and how far each is jittered from the MediaPipe crop,
# about as far as a tracker's crop moves between frames.
TEST_CROPS = 16
JITTER_SHIFT = 0.05  # fraction of the crop side
JITTER_SCALE = 0.1  # fraction of the crop side
JITTER_ANGLE = 0.2  # radians


# --------------------------------------------------------------------------
# Locating and converting


def mediapipe_dir() -> Path:
    """Return the installed mediapipe package folder, checking its version."""
    import mediapipe

    if mediapipe.__version__ != MEDIAPIPE_VERSION:
        sys.exit(
            f"export.py needs mediapipe=={MEDIAPIPE_VERSION}, found "
            f"{mediapipe.__version__}"
        )
    return Path(mediapipe.__file__).resolve().parent


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert(spec: ModelSpec, tflite_path: Path):
    """Convert one .tflite to an ONNX ModelProto with clean tensor names."""
    import tf2onnx

    transpose_convs = transpose_conv_bias_options(tflite_path)
    handlers = (
        {TRANSPOSE_CONV_BIAS: (transpose_conv_bias_handler(transpose_convs), [])}
        if transpose_convs
        else None
    )
    model, _ = tf2onnx.convert.from_tflite(
        str(tflite_path), opset=spec.opset, custom_op_handlers=handlers
    )
    leftover = sorted({n.op_type for n in model.graph.node if n.op_type.startswith("TFL_")})
    if leftover:
        raise ValueError(f"{spec.name}: tf2onnx left TFLite ops unconverted: {leftover}")
    graph_input = model.graph.input[0].name
    renames = {graph_input: spec.input.name}
    renames.update(zip(spec.tflite_outputs, (o.name for o in spec.outputs)))
    rename_tensors(model, renames)
    return model


# MediaPipe's custom TFLite op (mediapipe/util/tflite/operations/
# transpose_conv_bias.cc), in both selfie segmentation models: a transposed
# convolution with a bias, which XNNPACK runs and tf2onnx does not know. Its
# custom options are TFLite's TfLiteTransposeConvParams struct as raw bytes
# (padding, stride_width, stride_height, int32 each), not a flexbuffer, so
# tf2onnx cannot read them either; they are read from the flatbuffer here.
TRANSPOSE_CONV_BIAS = "TFL_Convolution2DTransposeBias"
TFLITE_PADDING_SAME, TFLITE_PADDING_VALID = 1, 2  # TfLitePadding


def transpose_conv_bias_options(tflite_path: Path) -> dict[str, tuple[int, int, int]]:
    """(padding, stride_width, stride_height) of each Convolution2DTransposeBias node,
    by output tensor name (tf2onnx names each node after its output)."""
    from tf2onnx.tflite.Model import Model

    model = Model.GetRootAsModel(tflite_path.read_bytes(), 0)
    found = {}
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            if model.OperatorCodes(op.OpcodeIndex()).CustomCode() != b"Convolution2DTransposeBias":
                continue
            params = np.frombuffer(op.CustomOptionsAsNumpy().tobytes(), "<i4")
            name = graph.Tensors(op.Outputs(0)).Name().decode()
            found[name] = tuple(int(v) for v in params[:3])
    return found


def transpose_conv_bias_handler(options: dict[str, tuple[int, int, int]]):
    """tf2onnx handler turning Convolution2DTransposeBias into ONNX ConvTranspose.

    The TFLite node is NHWC with weights OHWI ``(out, kh, kw, in)`` and a bias
    ``(out,)``; ConvTranspose is NCHW with weights ``(in, out, kh, kw)`` and the
    same bias. Transposes go on the data input and output (tf2onnx's optimiser
    cancels them against their neighbours) and on the weights (folded into the
    constant). Only the unpadded case is built: with the kernel equal to the
    stride, as in both selfie models, SAME and VALID both pad nothing
    (TFLite's total padding ``(in - 1) * stride + kernel - out``, with
    ``out = in * stride`` for SAME); the build check against TFLite covers it.
    """

    def handle(ctx, node, name, args):
        padding, stride_w, stride_h = options[node.output[0]]
        _, kernel_h, kernel_w, _ = ctx.get_shape(node.input[1])
        _, in_h, in_w, _ = ctx.get_shape(node.input[0])
        for size, kernel, stride in ((in_h, kernel_h, stride_h), (in_w, kernel_w, stride_w)):
            out = size * stride if padding == TFLITE_PADDING_SAME else (size - 1) * stride + kernel
            if padding not in (TFLITE_PADDING_SAME, TFLITE_PADDING_VALID) or (
                (size - 1) * stride + kernel - out
            ):
                raise ValueError(f"{node.name}: padded transposed convolution not supported")
        weights = ctx.insert_new_node_on_input(node, "Transpose", node.input[1], perm=[3, 0, 1, 2])
        data = ctx.insert_new_node_on_input(node, "Transpose", node.input[0], perm=[0, 3, 1, 2])
        nhwc_shape = ctx.get_shape(node.output[0])
        back = ctx.insert_new_node_on_output("Transpose", node.output[0], perm=[0, 2, 3, 1])
        for added in (weights, data, back):
            added.skip_conversion = True
        ctx.set_shape(back.output[0], nhwc_shape)
        n, h, w, c = nhwc_shape
        ctx.set_shape(node.output[0], [n, c, h, w])
        node.type = "ConvTranspose"
        node.domain = ""
        node.set_attr("strides", [stride_h, stride_w])
        node.set_attr("kernel_shape", [kernel_h, kernel_w])
        node.set_attr("pads", [0, 0, 0, 0])

    return handle


def rename_tensors(model, renames: dict[str, str]) -> None:
    """Rename graph inputs, outputs and every node reference to them."""
    for value in list(model.graph.input) + list(model.graph.output):
        value.name = renames.get(value.name, value.name)
    for node in model.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]


# --------------------------------------------------------------------------
# Graph rewrites for ONNX Runtime's CPU provider
#
# Profiling the tf2onnx output showed where the time goes (face_landmark,
# 1 thread): PRelu 64 % -- ONNX Runtime's PRelu kernel is a slow broadcasting
# loop, about 90 us per node at 96x96x16 -- and the layout reorders around it
# and around the channel-padding Pad nodes of the residual blocks, which the
# NCHWc layout optimiser cannot keep in its blocked layout. tf2onnx already
# removes every NHWC/NCHW Transpose except the one on the input. The rewrites
# below express both with Conv and Relu, which the NCHWc optimiser fuses and
# keeps blocked end to end. The result is plain ONNX, so the layout choice is
# made by ONNX Runtime when the session starts, for the CPU it runs on.


def _initializers(model) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _add_initializer(model, name: str, array: np.ndarray) -> str:
    from onnx import numpy_helper

    model.graph.initializer.append(
        numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name)
    )
    return name


def replace_prelu(model) -> int:
    """Rewrite every PRelu with a per-channel slope as two 1x1 depthwise convs.

    PRelu(y) = y + (1 - a) * Relu(-y): the first conv (weights -1, Relu fused)
    gives Relu(-y), the second scales it by (1 - a) per channel and has the
    residual add of y fused. Exact up to float rounding, for any slope a.
    Returns the number of nodes rewritten.
    """
    from onnx import helper

    init = _initializers(model)
    nodes = []
    count = 0
    for node in model.graph.node:
        if node.op_type != "PRelu" or node.input[1] not in init:
            nodes.append(node)
            continue
        y, slope_name = node.input
        slope = init[slope_name].astype(np.float32)
        channels = slope.size
        if slope.shape not in ((1, channels, 1, 1), (channels, 1, 1)):
            nodes.append(node)  # not per-channel NCHW: leave it as it is
            continue
        count += 1
        prefix = f"{node.output[0]}/prelu_"
        negate = _add_initializer(
            model, prefix + "negate", -np.ones((channels, 1, 1, 1))
        )
        scale = _add_initializer(
            model, prefix + "scale", (1.0 - slope).reshape(channels, 1, 1, 1)
        )
        conv = dict(group=channels, kernel_shape=[1, 1])
        nodes += [
            helper.make_node("Conv", [y, negate], [prefix + "neg"], **conv),
            helper.make_node("Relu", [prefix + "neg"], [prefix + "relu"]),
            helper.make_node("Conv", [prefix + "relu", scale], [prefix + "s"], **conv),
            helper.make_node("Add", [prefix + "s", y], [node.output[0]]),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return count


def replace_channel_pad(model) -> int:
    """Rewrite Pad nodes that only append zero channels as 1x1 convs.

    The residual blocks widen the skip path by zero-padding channels; as a
    1x1 conv with an identity-then-zeros weight the NCHWc optimiser keeps it
    blocked and fuses the residual Add into it. Returns the number rewritten.
    """
    from onnx import helper, shape_inference

    init = _initializers(model)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in shape_inference.infer_shapes(model).graph.value_info
    }
    nodes = []
    count = 0
    for node in model.graph.node:
        pads = init.get(node.input[1]) if node.op_type == "Pad" else None
        mode = [a.s for a in node.attribute if a.name == "mode"]
        padded_value = len(node.input) > 2 and node.input[2]
        if (
            pads is None
            or mode not in ([], [b"constant"])
            or padded_value
            or node.input[0] not in shapes
            or np.any(np.delete(pads, 5))  # only the end of axis 1 (C)
        ):
            nodes.append(node)
            continue
        count += 1
        channels = shapes[node.input[0]][1]
        weight = np.zeros((channels + int(pads[5]), channels, 1, 1), np.float32)
        weight[np.arange(channels), np.arange(channels)] = 1.0
        name = _add_initializer(model, node.output[0] + "/widen", weight)
        nodes.append(
            helper.make_node(
                "Conv", [node.input[0], name], list(node.output), kernel_shape=[1, 1]
            )
        )
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return count


def dynamic_batch(model) -> int:
    """Free the batch axis: input, outputs and every Reshape accept any batch size.

    tf2onnx writes batch 1 everywhere, including into the Reshape shape constants; with the
    batch free, one call runs every tracked face (or both eyes) at once. Returns the number
    of Reshape nodes rewritten.
    """
    from onnx import numpy_helper, shape_inference

    inferred = shape_inference.infer_shapes(model).graph
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in list(inferred.value_info) + list(inferred.output)
    }
    count = 0
    for node in model.graph.node:
        if node.op_type != "Reshape":
            continue
        target = shapes[node.output[0]]
        if not target or target[0] != 1:
            raise ValueError(f"{node.name}: reshape to {target} does not keep batch first")
        name = node.output[0] + "/batch_free_shape"
        model.graph.initializer.append(
            numpy_helper.from_array(np.array([-1, *target[1:]], np.int64), name)
        )
        node.input[1] = name
        count += 1
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    return count


def fold_input_pad(model) -> int:
    """Fold a zero Pad of the NHWC input into the first convolution's pads.

    pose_landmark_full starts with TensorFlow's explicit ``ZeroPadding2D`` before
    a strided convolution: input -> Pad (H, W only, zeros) -> Transpose -> Conv.
    The convolution zero-pads the same way, so its ``pads`` take the Pad's
    amounts and the Pad goes: exact, one pass over the input fewer, and the
    input again feeds the Transpose that ``uint8_bgr_input`` expects. Returns
    the number of Pad nodes folded (0 or 1).
    """
    from onnx import helper

    graph = model.graph
    image = graph.input[0].name
    init = _initializers(model)
    consumers = [n for n in graph.node if image in n.input]
    if len(consumers) != 1 or consumers[0].op_type != "Pad":
        return 0
    pad = consumers[0]
    mode = [a.s for a in pad.attribute if a.name == "mode"]
    value = init.get(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else None
    pads = init.get(pad.input[1])
    after_pad = [n for n in graph.node if pad.output[0] in n.input]
    if (
        pads is None
        or mode not in ([], [b"constant"])
        or (value is not None and np.any(value))
        or np.any(pads[[0, 3, 4, 7]])  # NHWC: only H and W may be padded
        or len(after_pad) != 1
        or after_pad[0].op_type != "Transpose"
    ):
        return 0
    transpose = after_pad[0]
    perm = [a.ints for a in transpose.attribute if a.name == "perm"][0]
    convs = [n for n in graph.node if transpose.output[0] in n.input]
    if list(perm) != [0, 3, 1, 2] or len(convs) != 1 or convs[0].op_type != "Conv":
        return 0
    conv = convs[0]
    attributes = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    if attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return 0
    top, left, bottom, right = int(pads[1]), int(pads[2]), int(pads[5]), int(pads[6])
    old = list(attributes.get("pads", [0, 0, 0, 0]))
    new = [old[0] + top, old[1] + left, old[2] + bottom, old[3] + right]
    for attribute in conv.attribute:
        if attribute.name == "pads":
            attribute.CopyFrom(helper.make_attribute("pads", new))
            break
    else:
        conv.attribute.append(helper.make_attribute("pads", new))
    transpose.input[0] = image
    graph.node.remove(pad)
    return 1


def uint8_bgr_input(model, value_range: tuple[float, float]) -> None:
    """Take the input as uint8 BGR and convert to the network's float RGB range in-graph.

    The network wants ``low + (high - low) * rgb / 255``. Its first node transposes the NHWC
    input into a convolution; the RGB order and the scale fold into that convolution's
    weights (``W[:, ::-1] * scale``), exactly, and the offset becomes one Add before it of
    ``low / scale`` (kept outside the weights because the convolution zero-pads its input:
    the padding must stay the network's zero, not the raw zero). ``low == 0`` needs no Add.
    """
    from onnx import TensorProto, helper, numpy_helper

    low, high = value_range
    scale = (high - low) / 255.0
    graph = model.graph
    image = graph.input[0].name
    transpose = next(n for n in graph.node if image in n.input)
    conv = next(n for n in graph.node if transpose.output[0] in n.input)
    if transpose.op_type != "Transpose" or conv.op_type != "Conv":
        raise ValueError(f"unexpected input nodes {transpose.op_type} -> {conv.op_type}")
    if sum(conv.input[1] in n.input for n in graph.node) != 1:
        raise ValueError("the first convolution shares its weights")
    weight_proto = next(t for t in graph.initializer if t.name == conv.input[1])
    weight = numpy_helper.to_array(weight_proto)
    weight_proto.CopyFrom(
        numpy_helper.from_array(
            np.ascontiguousarray(weight[:, ::-1] * scale, np.float32), weight_proto.name
        )
    )
    graph.input[0].type.tensor_type.elem_type = TensorProto.UINT8
    added = [helper.make_node("Cast", [image], [image + "/float"], to=TensorProto.FLOAT)]
    transpose_input = image + "/float"
    if low:
        offset = _add_initializer(model, image + "/offset", np.array(low / scale))
        added.append(helper.make_node("Add", [transpose_input, offset], [image + "/offset_added"]))
        transpose_input = image + "/offset_added"
    transpose.input[0] = transpose_input
    for position, node in enumerate(added):
        graph.node.insert(position, node)


def canonical_names(model) -> None:
    """Name nodes, intermediate tensors and initializers by graph order.

    tf2onnx numbers folded constants, and picks which of two merged duplicate
    nodes keeps its name, in a run-dependent order; renaming makes the written
    file, and so its SHA-256, the same on every build. Graph inputs and
    outputs keep their names. Unused initializers are dropped.
    """
    keep_names = {v.name for v in list(model.graph.input) + list(model.graph.output)}
    counters: dict[str, int] = {}
    tensors = {}
    for node in model.graph.node:
        node.input[:] = [tensors.get(n, n) for n in node.input]
        for slot, name in enumerate(node.output):
            if name not in keep_names:
                op = node.op_type.lower()
                counters[op] = counters.get(op, 0) + 1
                tensors[name] = f"{op}_{counters[op]}"
                node.output[slot] = tensors[name]
        node.name = node.output[0]
    del model.graph.value_info[:]
    by_name = {t.name: t for t in model.graph.initializer}
    renames = {}
    for node in model.graph.node:
        for slot, name in enumerate(node.input):
            if name in by_name and name not in renames:
                renames[name] = f"{node.output[0]}/input{slot}"
    for node in model.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
    keep = []
    for old, new in renames.items():
        tensor = by_name[old]
        tensor.name = new
        keep.append(tensor)
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


# Initialisers smaller than this stay float32: a Cast node costs more bytes
# than float16 saves on a handful of values.
FLOAT16_MIN_VALUES = 256


def float16_weights(model) -> int:
    """Store float32 initialisers that are exactly float16 values as float16, each
    behind a Cast to float32.

    The TFLite files hold their weights as float16 (the DEQUANTIZE nodes), so
    nearly every weight round-trips exactly and the file halves with no change
    in any output; ONNX Runtime's constant folding runs the Casts once when the
    session starts, before the NCHWc layout pass. Weights that are not exact
    (the first convolution, rescaled by ``uint8_bgr_input``) stay float32.
    Returns the number of initialisers converted.
    """
    from onnx import TensorProto, helper, numpy_helper

    kept, casts = [], []
    for tensor in model.graph.initializer:
        value = numpy_helper.to_array(tensor)
        half = value.astype(np.float16)
        if (
            value.dtype != np.float32
            or value.size < FLOAT16_MIN_VALUES
            or not np.array_equal(half.astype(np.float32), value)
        ):
            kept.append(tensor)
            continue
        kept.append(numpy_helper.from_array(half, tensor.name + "/float16"))
        casts.append(
            helper.make_node(
                "Cast", [tensor.name + "/float16"], [tensor.name],
                name=tensor.name + "/cast", to=TensorProto.FLOAT,
            )
        )
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    nodes = casts + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return len(casts)


def optimise(model, spec: ModelSpec):
    """Return a copy of a converted model rewritten for the ORT CPU provider, taking uint8
    BGR crops of any batch size."""
    import onnx

    optimised = onnx.ModelProto()
    optimised.CopyFrom(model)
    prelu = replace_prelu(optimised)
    pads = replace_channel_pad(optimised)
    input_pads = fold_input_pad(optimised)
    reshapes = dynamic_batch(optimised)
    uint8_bgr_input(optimised, spec.input.value_range)
    canonical_names(optimised)
    halved = float16_weights(optimised) if spec.float16_weights else 0
    # tf2onnx declares ai.onnx.ml without using it.
    opsets = [o for o in optimised.opset_import if o.domain in ("", "ai.onnx")]
    del optimised.opset_import[:]
    optimised.opset_import.extend(opsets)
    onnx.checker.check_model(optimised, full_check=True)
    folded = f", folded {input_pads} input Pad into the first Conv" if input_pads else ""
    folded += f", {halved} weights stored as float16" if halved else ""
    print(
        f"  rewrote {prelu} PRelu and {pads} channel Pad nodes{folded}; batch freed in "
        f"{reshapes} Reshape nodes; input uint8 BGR"
    )
    return optimised


# --------------------------------------------------------------------------
# Crop graphs: the rotated crop cut out of the frame by the execution provider

# GridSample needs opset 16; these graphs stand alone, so the networks keep 13.
CROP_OPSET = 16
CROP_SIZES = (192, 64)  # the mesh and iris networks' inputs
# Largest |crop graph - cv2.warpAffine| in grey levels: OpenCV quantises the bilinear
# weights to 1/32 pixel and GridSample does not: 0.07 levels on average, a few at edges.
CROP_TOLERANCE_LEVELS = 4


def crop_graph(size: int):
    """ONNX graph cutting ``n`` rotated square crops out of one frame, as ``cv2.warpAffine``
    (bilinear, replicated border) with the image->crop maps whose inverses it is given.

    Inputs: ``frame`` ``(H, W, 3)`` uint8 (any H, W); ``to_frame`` ``(n, 2, 3)`` float32, the
    crop->frame affine maps (pixel index coordinates). Output: ``crops`` ``(n, size, size, 3)``
    uint8. All crops come from one GridSample call on the frame (their grids stacked along
    the rows), so a batch of crops costs one pass, and on a GPU the frame crosses the bus once
    for the face and both eyes.
    """
    from onnx import TensorProto, helper, numpy_helper

    v, u = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack([u.ravel(), v.ravel(), np.ones(size * size, np.float32)], axis=1)
    constants = {
        "base": base,  # (S*S, 3) crop pixel (u, v, 1), row-major
        "two": np.array(2.0, np.float32),
        "one": np.array(1.0, np.float32),
        "hw": np.array([0], np.int64),
        "hw_end": np.array([2], np.int64),
        "xy_order": np.array([1, 0], np.int64),
        "grid_shape": np.array([1, -1, size, 2], np.int64),
        "crops_shape": np.array([-1, size, size, 3], np.int64),
        "batch_axis": np.array([0], np.int64),
        "low": np.array(0.0, np.float32),
        "high": np.array(255.0, np.float32),
    }
    node = helper.make_node
    nodes = [
        # Sample positions in frame pixels: (n, S*S, 2) = base @ to_frame^T.
        node("Transpose", ["to_frame"], ["to_frame_t"], perm=[0, 2, 1]),
        node("MatMul", ["base", "to_frame_t"], ["positions"]),
        # GridSample's align_corners=1 maps -1 and 1 to the first and last pixel centres:
        # g = 2 x / (W - 1) - 1, which puts sample x at pixel index x, as OpenCV does.
        node("Shape", ["frame"], ["frame_shape"]),
        node("Slice", ["frame_shape", "hw", "hw_end"], ["height_width"]),
        node("Gather", ["height_width", "xy_order"], ["width_height"]),
        node("Cast", ["width_height"], ["width_height_f"], to=TensorProto.FLOAT),
        node("Sub", ["width_height_f", "one"], ["last_index"]),
        node("Mul", ["positions", "two"], ["positions_2"]),
        node("Div", ["positions_2", "last_index"], ["positions_n"]),
        node("Sub", ["positions_n", "one"], ["grid_flat"]),
        node("Reshape", ["grid_flat", "grid_shape"], ["grid"]),  # (1, n*S, S, 2)
        node("Cast", ["frame"], ["frame_f"], to=TensorProto.FLOAT),
        node("Transpose", ["frame_f"], ["frame_chw"], perm=[2, 0, 1]),
        node("Unsqueeze", ["frame_chw", "batch_axis"], ["frame_nchw"]),
        node("GridSample", ["frame_nchw", "grid"], ["sampled"], mode="bilinear",
             padding_mode="border", align_corners=1),  # (1, 3, n*S, S)
        node("Transpose", ["sampled"], ["sampled_nhwc"], perm=[0, 2, 3, 1]),
        node("Reshape", ["sampled_nhwc", "crops_shape"], ["crops_f"]),
        node("Round", ["crops_f"], ["crops_r"]),
        node("Clip", ["crops_r", "low", "high"], ["crops_c"]),
        node("Cast", ["crops_c"], ["crops"], to=TensorProto.UINT8),
    ]
    graph = helper.make_graph(
        nodes,
        f"crop_{size}",
        [
            helper.make_tensor_value_info("frame", TensorProto.UINT8, ["height", "width", 3]),
            helper.make_tensor_value_info("to_frame", TensorProto.FLOAT, ["batch", 2, 3]),
        ],
        [helper.make_tensor_value_info("crops", TensorProto.UINT8, ["batch", size, size, 3])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", CROP_OPSET)],
        producer_name="selfie3d models/export.py",
    )
    model.ir_version = 8  # readable by every ONNX Runtime since 1.10
    model.doc_string = (
        f"crop_{size}: {size}x{size} rotated crops of a uint8 frame, bilinear with a "
        "replicated border, as cv2.warpAffine"
    )
    import onnx

    onnx.checker.check_model(model, full_check=True)
    return model


def check_crop_graph(session, size: int, seed: int = 0) -> float:
    """Largest |crop graph - cv2.warpAffine| in grey levels over random rotated crops of the
    astronaut photo, several in one call, some hanging over the frame's edges."""
    import cv2
    from skimage import data

    frame = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    rng = np.random.default_rng(seed)
    maps, expected = [], []
    for _ in range(6):
        centre = rng.uniform(-40, 552, 2)
        side = rng.uniform(20, 600)
        angle = rng.uniform(-math.pi, math.pi)
        c, s_ = math.cos(angle) * side / size, math.sin(angle) * side / size
        half = size / 2.0
        to_frame = np.array(
            [[c, -s_, centre[0] - c * half + s_ * half], [s_, c, centre[1] - s_ * half - c * half]],
            np.float32,
        )
        maps.append(to_frame)
        expected.append(
            cv2.warpAffine(
                frame, to_frame.astype(np.float64), (size, size),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
            )
        )
    [crops] = session.run(None, {"frame": frame, "to_frame": np.stack(maps)})
    return float(np.max(np.abs(crops.astype(np.int16) - np.stack(expected).astype(np.int16))))


# --------------------------------------------------------------------------
# Runners


def ort_session(model_bytes: bytes, options: dict | None, raw: bool = False):
    """ONNX Runtime CPU session; options as in CPU_SESSION_OPTIONS, None for
    ONNX Runtime's defaults. Returns a runner taking the image, or with ``raw``
    the InferenceSession itself."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if options is not None:
        so.intra_op_num_threads = options["intra_op_num_threads"]
        so.inter_op_num_threads = options["inter_op_num_threads"]
        so.execution_mode = getattr(ort.ExecutionMode, options["execution_mode"])
        so.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, options["graph_optimization_level"]
        )
        so.add_session_config_entry(
            "session.intra_op.allow_spinning",
            "1" if options["allow_spinning"] else "0",
        )
    session = ort.InferenceSession(
        model_bytes, so, providers=["CPUExecutionProvider"]
    )
    if raw:
        return session
    return lambda image: session.run(None, {"image": image})


def tflite_runner(path: Path, spec: ModelSpec, threads: int):
    """TFLite interpreter (XNNPACK delegate) returning outputs in spec order."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    image_index = interpreter.get_input_details()[0]["index"]
    by_name = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    output_indices = [by_name[name] for name in spec.tflite_outputs]

    def run(image: np.ndarray) -> list[np.ndarray]:
        interpreter.set_tensor(image_index, image)
        interpreter.invoke()
        return [interpreter.get_tensor(i).copy() for i in output_indices]

    return run


def float_rgb_runner(run: Callable, spec: ModelSpec) -> Callable:
    """A runner fed as MediaPipe feeds the network (float RGB in the model's range), called
    with ``(1, H, W, 3) uint8`` RGB."""
    low, high = spec.input.value_range

    def fed(image_rgb: np.ndarray) -> list[np.ndarray]:
        return run((low + (high - low) / 255.0 * image_rgb).astype(np.float32))

    return fed


def bgr_runner(run: Callable) -> Callable:
    """The exported graph (uint8 BGR input) called with ``(n, H, W, 3) uint8`` RGB."""
    return lambda image_rgb: run(np.ascontiguousarray(image_rgb[..., ::-1]))


# --------------------------------------------------------------------------
# Test inputs: real face crops cut the way MediaPipe cuts them


def ssd_anchors() -> np.ndarray:
    """SSD anchor centres of face_detection_short_range.

    Returns (896, 2) float32 (x, y) normalised to [0, 1]; with
    fixed_anchor_size every anchor has w = h = 1. Layers sharing a stride
    share a feature map, so each cell of the 16x16 map has 2 anchors and each
    cell of the 8x8 map 6 (2 per layer: aspect 1.0 and the interpolated one).
    """
    opts = ANCHOR_OPTIONS
    strides = opts["strides"]
    anchors = []
    layer = 0
    while layer < len(strides):
        per_cell = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += len(opts["aspect_ratios"])
            per_cell += opts["interpolated_scale_aspect_ratio"] > 0
            last += 1
        size = math.ceil(opts["input_size"] / strides[layer])
        for y in range(size):
            for x in range(size):
                centre = (
                    (x + opts["anchor_offset"]) / size,
                    (y + opts["anchor_offset"]) / size,
                )
                anchors += [centre] * per_cell
        layer = last
    anchors = np.asarray(anchors, np.float32)
    assert len(anchors) == NUM_ANCHORS, len(anchors)
    return anchors


def decode_best_face(
    regressors: np.ndarray, classificators: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Best detection of face_detection_short_range outputs.

    regressors: (1, 896, 16) float32; classificators: (1, 896, 1) float32.
    Returns (score, box (4,) cx, cy, w, h normalised, keypoints (6, 2)
    normalised).
    """
    anchors = ssd_anchors()
    logits = np.clip(classificators[0, :, 0], -SCORE_CLIP, SCORE_CLIP)
    best = int(np.argmax(logits))
    raw = regressors[0, best] / DETECTION_SCALE
    # x = anchor_x + dx / x_scale * anchor_w, with anchor_w = 1
    box = np.array([*(anchors[best] + raw[0:2]), raw[2], raw[3]])
    keypoints = anchors[best] + raw[4:16].reshape(6, 2)
    return float(1.0 / (1.0 + np.exp(-logits[best]))), box, keypoints


def crop(
    image: np.ndarray,
    centre: np.ndarray,
    size: float,
    angle: float,
    out_size: int,
    flip: bool = False,
) -> np.ndarray:
    """Rotated square crop resampled bilinearly, as ImageToTensorCalculator.

    image: (H, W, 3) uint8 RGB; centre: (2,) pixels; size: side in pixels;
    angle: radians, direction of the crop's x axis in the image (atan2 of
    image y over image x, y pointing down).
    Returns (out_size, out_size, 3) float32 in [0, 255].
    """
    import cv2

    scale = size / out_size
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    # image point = centre + R(angle) * scale * (crop point - out_size / 2)
    half = out_size / 2.0
    to_image = np.array(
        [
            [c, -s, centre[0] - c * half + s * half],
            [s, c, centre[1] - s * half - c * half],
        ]
    )
    out = cv2.warpAffine(
        image,
        to_image,
        (out_size, out_size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    ).astype(np.float32)
    return out[:, ::-1] if flip else out


def test_inputs(
    tflite: dict[str, Callable], count: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Face crops of the astronaut photo shipped with scikit-image.

    The detector sees the whole photo, the mesh a face crop placed by the
    detector, the iris model eye crops placed by the mesh, each jittered as a
    tracker's crops jitter from frame to frame. Half the eye crops are of the
    other eye, flipped as MediaPipe flips them.
    tflite: model name -> runner taking uint8 RGB (used to place the crops).
    Returns model name -> (count, 1, H, W, 3) uint8 RGB, rounded as a camera's pixels are.
    """
    from skimage import data

    image = data.astronaut()  # (512, 512, 3) uint8 RGB, one frontal face
    side = image.shape[1]
    rng = np.random.default_rng(seed)

    def jittered(centre, size, angle, out_size, flip=False):
        shift = rng.uniform(-JITTER_SHIFT, JITTER_SHIFT, 2) * size
        scale = rng.uniform(1 - JITTER_SCALE, 1 + JITTER_SCALE)
        turn = rng.uniform(-JITTER_ANGLE, JITTER_ANGLE)
        return crop(image, centre + shift, size * scale, angle + turn, out_size, flip)

    def pixels(crop_float):  # the crop as a camera frame holds it: (1, H, W, 3) uint8 RGB
        return np.round(crop_float).astype(np.uint8)[None]

    middle = np.array([side / 2, side / 2])
    detector = [pixels(jittered(middle, side, 0.0, 128)) for _ in range(count)]
    score, box, keypoints = decode_best_face(
        *tflite["face_detection_short_range"](
            pixels(crop(image, middle, side, 0.0, 128))
        )
    )
    if score < MIN_FACE_SCORE:
        sys.exit(f"no face found in the test photo (score {score:.2f})")
    face_centre = box[:2] * side
    face_size = FACE_ROI_SCALE * max(box[2], box[3]) * side
    eyes = keypoints[:2] * side  # subject's right eye, left eye
    face_angle = math.atan2(eyes[1, 1] - eyes[0, 1], eyes[1, 0] - eyes[0, 0])
    faces = [
        pixels(jittered(face_centre, face_size, face_angle, 192))
        for _ in range(count)
    ]

    # Eye crops from the landmarks of an unjittered face crop.
    upright = pixels(crop(image, face_centre, face_size, face_angle, 192))
    mesh = tflite["face_landmark"](upright)[0].reshape(468, 3)
    c, s = math.cos(face_angle), math.sin(face_angle)
    # image point = centre + R(angle) * scale * (crop point - 96), as in crop()
    mesh_image = (mesh[:, :2] - 96.0) * (face_size / 192) @ np.array(
        [[c, -s], [s, c]]
    ).T + face_centre
    eye_crops = []
    for i in range(count):
        flip = i % 2 == 1
        a, b = mesh_image[list(RIGHT_EYE_CORNERS if flip else LEFT_EYE_CORNERS)]
        eye_angle = math.atan2(b[1] - a[1], b[0] - a[0])
        eye_size = EYE_ROI_SCALE * float(np.linalg.norm(b - a))
        eye_crops.append(pixels(jittered((a + b) / 2, eye_size, eye_angle, 64, flip)))

    def stacked(crops):
        return np.ascontiguousarray(np.stack(crops))

    return {
        "face_detection_short_range": stacked(detector),
        "face_landmark": stacked(faces),
        "iris_landmark": stacked(eye_crops),
    }


# --------------------------------------------------------------------------
# Test inputs for the person models: whole frames and body crops


# Extra photos for the person models' accuracy check and benchmark (not for
# the golden crops, which come from scikit-image so that the tests can ship
# them). Image files, plus the first frame of each video.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4",)
# MediaPipe's pose crop is the body's rotated square ROI scaled 1.25
# (PoseDetectionToRoi, PoseLandmarksToRoi: scale_x, scale_y 1.25,
# square_long); without the pose detector, the test crop is the square on the
# photo's longer side, which holds the whole upper body in these portraits.
POSE_ROI_SIDE = 1.0  # fraction of the photo's longer side


def person_photos(folder: Path | None) -> list[tuple[str, np.ndarray]]:
    """The astronaut photo first (the golden crops come from it), then the
    photos and first video frames in ``folder``. Returns (name, (H, W, 3) uint8 RGB)."""
    import cv2
    from skimage import data

    photos = [("skimage astronaut", data.astronaut())]
    if folder is None:
        return photos
    if not folder.is_dir():
        sys.exit(f"--photos {folder}: not a folder")
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if suffix in PHOTO_SUFFIXES:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        elif suffix in VIDEO_SUFFIXES:
            reader = cv2.VideoCapture(str(path))
            ok, image = reader.read()
            reader.release()
            image = image if ok else None
        else:
            continue
        if image is None:
            sys.exit(f"{path}: cannot be read")
        photos.append((path.name, np.ascontiguousarray(image[:, :, ::-1])))
    return photos


def warp_rect(
    image: np.ndarray,
    centre: np.ndarray,
    width: float,
    height: float,
    angle: float,
    out_width: int,
    out_height: int,
) -> np.ndarray:
    """A rotated rectangle of ``image`` resampled to ``out_height x out_width``,
    bilinear with a replicated border, as ImageToTensorCalculator cuts its ROI
    (pixel centres map to pixel centres, so the whole frame maps onto the whole
    output).

    image: (H, W, 3) uint8 RGB; centre: (2,) pixels; width, height: pixels;
    angle: radians, the direction of the rectangle's x axis in the image.
    Returns (out_height, out_width, 3) uint8 RGB.
    """
    import cv2

    sx, sy = width / out_width, height / out_height
    c, s = math.cos(angle), math.sin(angle)
    # image point = centre + R(angle) @ diag(sx, sy) @ (crop point + 0.5 - out / 2) - 0.5
    linear = np.array([[c * sx, -s * sy], [s * sx, c * sy]])
    offset = np.asarray(centre, np.float64) - 0.5 + linear @ (
        0.5 - np.array([out_width, out_height]) / 2.0
    )
    return cv2.warpAffine(
        image,
        np.hstack([linear, offset[:, None]]),
        (out_width, out_height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def person_inputs(
    photos: list[tuple[str, np.ndarray]], count: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Inputs for the person models, cut as MediaPipe cuts them.

    The segmentation models see the whole frame stretched to their input
    (SelfieSegmentation: keep_aspect_ratio false); the pose model a square body
    crop. The first ``len(photos)`` inputs are each photo unjittered (the very
    first is the astronaut, the golden crop); the rest cycle through the photos,
    jittered in framing (and for the pose crop in angle) as a tracker's crop
    moves. The landscape model's astronaut input is the 16:9 band from the
    photo's top (head and shoulders) rather than the whole, squashed square.
    Returns model name -> (count, 1, H, W, 3) uint8 RGB.
    """
    rng = np.random.default_rng(seed)
    shapes = {
        "selfie_segmentation": (256, 256),
        "selfie_segmentation_landscape": (144, 256),
        "pose_landmark_full": (256, 256),
    }
    inputs = {name: [] for name in shapes}
    for k in range(count):
        name, image = photos[k % len(photos)]
        height, width = image.shape[:2]
        jitter = k >= len(photos)
        shift = rng.uniform(-JITTER_SHIFT, JITTER_SHIFT, 2) if jitter else np.zeros(2)
        scale = rng.uniform(1 - JITTER_SCALE, 1 + JITTER_SCALE) if jitter else 1.0
        turn = rng.uniform(-JITTER_ANGLE, JITTER_ANGLE) if jitter else 0.0
        for model, (out_h, out_w) in shapes.items():
            if model == "pose_landmark_full":
                side = POSE_ROI_SIDE * max(height, width) * scale
                rect = (side, side, turn)
            else:
                rect = (width * scale, height * scale, 0.0)
            centre = np.array([width / 2, height / 2])
            if model == "selfie_segmentation_landscape" and k == 0:
                band = width * out_h / out_w
                rect, centre = (width, band, 0.0), np.array([width / 2, band / 2])
            centre = centre + shift * np.array(rect[:2])
            crop_rgb = warp_rect(image, centre, rect[0], rect[1], rect[2], out_w, out_h)
            inputs[model].append(crop_rgb[None])
    return {name: np.ascontiguousarray(np.stack(crops)) for name, crops in inputs.items()}


# Which MediaPipe graph checks a model's input range end to end: the
# SelfieSegmentation solution (the SelfieSegmentationCpu graph) with its
# model_selection. Fed an image of exactly the model's input size, the graph's
# resampling is the identity, so its mask must be the network's output on the
# range the spec claims.
MEDIAPIPE_GRAPH_CHECKS = {"selfie_segmentation": 0, "selfie_segmentation_landscape": 1}


def mediapipe_graph_error(model_selection: int, tflite_run: Callable, image_rgb: np.ndarray) -> float:
    """Largest |MediaPipe graph mask - TFLite fed the spec's range| on one image.

    image_rgb: (1, H, W, 3) uint8 at the model's input size; tflite_run: the
    float-RGB runner for that model.
    """
    from mediapipe.python.solutions import selfie_segmentation

    with selfie_segmentation.SelfieSegmentation(model_selection=model_selection) as graph:
        mask = graph.process(np.ascontiguousarray(image_rgb[0])).segmentation_mask
    return float(np.max(np.abs(mask - tflite_run(image_rgb)[0][0, :, :, 0])))


# --------------------------------------------------------------------------
# Checks and benchmark


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, in float64 and as tanh: the pose segmentation logits reach -1800,
    where exp(-x) overflows."""
    return 0.5 + 0.5 * np.tanh(0.5 * np.asarray(x, np.float64))


def checked_errors(
    reference, candidate, inputs: np.ndarray, spec: ModelSpec
) -> tuple[list[float], int]:
    """Per output, the largest |candidate - reference| over all inputs, of
    sigmoid(value) for the outputs that say ``compare_sigmoid``; with a
    ``spec.gate``, outputs other than the gate only over the inputs whose
    reference gate value passes. Also returns how many inputs the gate dropped.

    reference, candidate: runners; inputs: (n, 1, H, W, 3).
    """
    names = [o.name for o in spec.outputs]
    worst = [0.0] * len(names)
    gated = 0
    for image in inputs:
        ref_outputs, cand_outputs = reference(image), candidate(image)
        passes = True
        if spec.gate is not None:
            gate_name, threshold = spec.gate
            passes = float(np.min(ref_outputs[names.index(gate_name)])) >= threshold
            gated += not passes
        for slot, (r, c) in enumerate(zip(ref_outputs, cand_outputs)):
            if not passes and names[slot] != spec.gate[0]:
                continue
            r, c = np.asarray(r, np.float64), np.asarray(c, np.float64)
            if spec.outputs[slot].compare_sigmoid:
                r, c = sigmoid(r), sigmoid(c)
            worst[slot] = max(worst[slot], float(np.max(np.abs(r - c))))
    return worst, gated


def benchmark(runners: dict, image: np.ndarray, iterations: int) -> dict:
    """Interleaved timing. Returns runner name -> (median ms, p95 ms)."""
    for run in runners.values():
        for _ in range(BENCH_WARMUP):
            run(image)
    times = {name: np.empty(iterations) for name in runners}
    for i in range(iterations):
        for name, run in runners.items():
            start = time.perf_counter()
            run(image)
            times[name][i] = time.perf_counter() - start
    return {
        name: (float(np.median(t) * 1e3), float(np.percentile(t, 95) * 1e3))
        for name, t in times.items()
    }


# --------------------------------------------------------------------------
# Golden outputs and manifest

# Outputs with more values than this (64 KB as float32) are stored in the golden
# .npz as float16, compressed: a mask or heatmap would otherwise take 0.25 to
# 0.6 MB each. float16 keeps 11 significant bits, so a stored value is within
# 2**-12 + 2**-11 * |value| of TFLite's; the tests add that to their
# tolerance. Logit maps compared through a sigmoid are stored as that sigmoid,
# rounded to a multiple of 2**-11 (exact in float16, within 2**-12), under
# "<name>_sigmoid": the logits' noisy mantissas hardly compress, the rounded
# probabilities 3- to 10-fold. The face models' outputs stay below the limit,
# stored as first written.
GOLDEN_FLOAT32_VALUES = 16384
GOLDEN_SIGMOID_STEP = 2.0**-11


def write_golden(path: Path, spec: ModelSpec, outputs: list[np.ndarray]) -> None:
    """TFLite's outputs on the golden crop, large ones as float16 (compressed)."""
    if all(value.size <= GOLDEN_FLOAT32_VALUES for value in outputs):
        np.savez(path, **{o.name: value for o, value in zip(spec.outputs, outputs)})
        return
    stored = {}
    for output, value in zip(spec.outputs, outputs):
        if value.size <= GOLDEN_FLOAT32_VALUES:
            stored[output.name] = value
        elif output.compare_sigmoid:
            probability = np.round(sigmoid(value) / GOLDEN_SIGMOID_STEP) * GOLDEN_SIGMOID_STEP
            stored[output.name + "_sigmoid"] = probability.astype(np.float16)
        else:
            stored[output.name] = value.astype(np.float16)
    np.savez_compressed(path, **stored)


def manifest_entry(spec: ModelSpec, onnx_path: Path, tflite_path: Path) -> dict:
    low, high = spec.input.value_range
    return {
        "file": onnx_path.name,
        "sha256": sha256_file(onnx_path),
        "source": f"mediapipe=={MEDIAPIPE_VERSION} mediapipe/{spec.source}",
        "source_sha256": sha256_file(tflite_path),
        "inputs": [
            {
                "name": spec.input.name,
                "shape": ["batch", *spec.input.shape[1:]],
                "layout": "NHWC",
                "dtype": "uint8",
                "channels": "BGR",
                "meaning": "crops as OpenCV holds them, 0-255; the graph converts "
                f"them to the network's float RGB in [{low:g}, {high:g}]",
                "network_range": [low, high],
            }
        ],
        "outputs": [output_entry(o) for o in spec.outputs],
        "opset": spec.opset,
    }


def output_entry(output: TensorSpec) -> dict:
    entry = {
        "name": output.name,
        "shape": ["batch", *output.shape[1:]],
        "dtype": "float32",
        "meaning": output.meaning,
    }
    if output.value_range is not None:
        entry["value_range"] = list(output.value_range)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=HERE,
        help="folder for the .onnx files and manifest.json (default: %(default)s)",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=BENCH_ITERATIONS,
        help="timed calls per runner in the benchmark, 0 to skip it "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--test-crops",
        type=int,
        default=TEST_CROPS,
        help="face crops per model for the accuracy check (default: %(default)s)",
    )
    parser.add_argument(
        "--photos",
        type=Path,
        default=None,
        help="folder of photos and videos (their first frame) added to the person models' "
        "accuracy check and benchmark, e.g. the team's shared media folder; the golden "
        "crops always come from scikit-image's astronaut (default: astronaut only)",
    )
    parser.add_argument(
        "--golden-dir",
        type=Path,
        default=HERE.parent / "tests" / "reference" / "networks",
        help="folder for one test crop per model (PNG, BGR) and TFLite's outputs on it "
        "(.npz), which the run-time tests compare the ONNX models with "
        "(default: %(default)s)",
    )
    args = parser.parse_args(argv)

    import cv2
    import onnx

    package = mediapipe_dir()
    sources = {spec.name: package / spec.source for spec in MODELS}
    tflite = {
        spec.name: float_rgb_runner(
            tflite_runner(sources[spec.name], spec, TFLITE_THREADS), spec
        )
        for spec in MODELS
    }
    inputs = test_inputs(tflite, args.test_crops)
    photos = person_photos(args.photos)
    print(f"person crops from {len(photos)} photos: {', '.join(name for name, _ in photos)}")
    inputs.update(person_inputs(photos, max(args.test_crops, len(photos))))

    args.out_dir.mkdir(parents=True, exist_ok=True)
    entries = {}
    rows = []
    failed = False
    for spec in MODELS:
        print(f"{spec.name}: {sources[spec.name]}")
        naive = convert(spec, sources[spec.name])
        optimised = optimise(naive, spec)
        optimised.producer_name = "selfie3d models/export.py"
        optimised.doc_string = (
            f"{spec.name} converted from mediapipe=={MEDIAPIPE_VERSION} "
            f"mediapipe/{spec.source} (Apache-2.0, {spec.copyright})"
        )
        onnx_path = args.out_dir / f"{spec.name}.onnx"
        onnx.save(optimised, onnx_path)
        entries[spec.name] = manifest_entry(spec, onnx_path, sources[spec.name])

        naive_run = float_rgb_runner(ort_session(naive.SerializeToString(), None), spec)
        fast_run = bgr_runner(ort_session(onnx_path.read_bytes(), CPU_SESSION_OPTIONS))
        errors, gated = checked_errors(tflite[spec.name], fast_run, inputs[spec.name], spec)
        naive_errors, _ = checked_errors(tflite[spec.name], naive_run, inputs[spec.name], spec)
        if spec.gate is not None:
            print(
                f"  {len(inputs[spec.name]) - gated} of {len(inputs[spec.name])} crops pass "
                f"{spec.gate[0]} >= {spec.gate[1]:g}; the other outputs are compared on those"
            )
        for output, error, naive_error in zip(spec.outputs, errors, naive_errors):
            status = "ok" if error <= output.tolerance else "TOO LARGE"
            failed |= error > output.tolerance
            what = "sigmoid(ORT) - sigmoid(TFLite)" if output.compare_sigmoid else "ORT - TFLite"
            print(
                f"  {output.name}: max |{what}| = {error:.2e} "
                f"(tf2onnx graph {naive_error:.2e}, tolerance {output.tolerance:g}) {status}"
            )
        if spec.name in MEDIAPIPE_GRAPH_CHECKS:
            # The input range, checked end to end against MediaPipe's own graph.
            error = mediapipe_graph_error(
                MEDIAPIPE_GRAPH_CHECKS[spec.name], tflite[spec.name], inputs[spec.name][0]
            )
            low, high = spec.input.value_range
            status = "ok" if error <= spec.outputs[0].tolerance else "WRONG RANGE"
            failed |= error > spec.outputs[0].tolerance
            print(
                f"  MediaPipe SelfieSegmentation graph vs TFLite fed RGB in "
                f"[{low:g}, {high:g}]: max difference {error:.2e} {status}"
            )
        # A golden pair for the run-time tests: the first test crop and TFLite's outputs.
        args.golden_dir.mkdir(parents=True, exist_ok=True)
        golden = inputs[spec.name][0]  # (1, H, W, 3) uint8 RGB
        cv2.imwrite(str(args.golden_dir / f"{spec.name}.png"), golden[0, :, :, ::-1])
        write_golden(args.golden_dir / f"{spec.name}.npz", spec, tflite[spec.name](golden))
        # One call on the whole stack of crops must give what one call per crop gives.
        batched = fast_run(inputs[spec.name][:, 0])
        singles = [fast_run(image) for image in inputs[spec.name]]
        for slot, output in enumerate(spec.outputs):
            stacked = np.concatenate([single[slot] for single in singles])
            error = float(np.max(np.abs(batched[slot] - stacked)))
            failed |= error > output.tolerance
            print(f"  {output.name}: batch of {len(singles)} vs one by one {error:.2e}")

        if args.iterations > 0:
            image = inputs[spec.name][0]
            timings = benchmark(
                {
                    "tflite": tflite[spec.name],
                    "naive": naive_run,
                    "optimised": fast_run,
                },
                image,
                args.iterations,
            )
            for name, (median, p95) in timings.items():
                print(f"  {name:10s} median {median:6.3f} ms  p95 {p95:6.3f} ms")
            rows.append((spec.name, timings, errors))

    for size in CROP_SIZES:
        name = f"crop_{size}"
        print(f"{name}: built here (GridSample, opset {CROP_OPSET})")
        crop_path = args.out_dir / f"{name}.onnx"
        onnx.save(crop_graph(size), crop_path)
        error = check_crop_graph(ort_session(crop_path.read_bytes(), CPU_SESSION_OPTIONS, raw=True), size)
        failed |= error > CROP_TOLERANCE_LEVELS
        status = "ok" if error <= CROP_TOLERANCE_LEVELS else "TOO LARGE"
        print(f"  crops: max |graph - cv2.warpAffine| = {error:.0f} grey levels "
              f"(tolerance {CROP_TOLERANCE_LEVELS}) {status}")
        entries[name] = {
            "file": crop_path.name,
            "sha256": sha256_file(crop_path),
            "source": f"models/export.py crop_graph({size})",
            "inputs": [
                {"name": "frame", "shape": ["height", "width", 3], "layout": "HWC", "dtype": "uint8",
                 "meaning": "the camera frame, as OpenCV holds it"},
                {"name": "to_frame", "shape": ["batch", 2, 3], "dtype": "float32",
                 "meaning": "per crop, the affine map from crop pixels to frame pixels "
                 "(the inverse of cv2.warpAffine's matrix)"},
            ],
            "outputs": [
                {"name": "crops", "shape": ["batch", size, size, 3], "dtype": "uint8",
                 "meaning": "the crops, bilinear with a replicated border, as cv2.warpAffine "
                 f"(within {CROP_TOLERANCE_LEVELS} grey levels: OpenCV rounds its weights)"},
            ],
        }

    manifest = {"models": entries, "cpu_session_options": CPU_SESSION_OPTIONS}
    (args.out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {args.out_dir / 'manifest.json'}")

    if rows:
        print(
            "\n| model | TFLite XNNPACK ms | ORT naive ms | ORT optimised ms "
            "| optimised / TFLite | max error |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for name, t, errors in rows:
            print(
                f"| {name} | {t['tflite'][0]:.2f} (p95 {t['tflite'][1]:.2f}) "
                f"| {t['naive'][0]:.2f} (p95 {t['naive'][1]:.2f}) "
                f"| {t['optimised'][0]:.2f} (p95 {t['optimised'][1]:.2f}) "
                f"| {t['optimised'][0] / t['tflite'][0]:.2f} "
                f"| {', '.join(f'{e:.1e}' for e in errors)} |"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
