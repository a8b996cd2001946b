"""``selfie3d bench --networks``: the face networks on every execution provider, side by side.

Issue 7's figures: the mesh network's latency with TensorRT and CUDA against the CPU provider
on the same machine, and where batching and pre-processing on the device pay. Each model is
opened once per provider (TensorRT builds or loads its engine then, outside the timing) and
the providers are timed interleaved, call by call, so load from other work hits them alike.

Reported per model and provider: p50 of one call at each batch size and its cost per crop;
per provider: the mesh network's speed-up over the CPU provider. Pre-processing: cutting the
face and eye crops out of a 1280x720 frame on the host (``cv2.warpAffine``) and on each
provider's device (the crop graphs, frame upload included: ``--device-crop``), and what the
float conversion the models now do in-graph used to cost on the host; on a CUDA machine also
the bare host-to-device copies of a uint8 crop, a float crop and the whole frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from realtime.stages.inference import PROVIDER_PREFERENCE, available_providers, model_spec, open_session
from realtime.stages.reconstruction import IRIS_INPUT_SIZE, MESH_INPUT_SIZE


def input_size(model: str) -> int:
    """Side of the square crop ``model`` takes, from its manifest entry (NHWC)."""
    return int(model_spec(model).inputs[0]["shape"][1])

MODELS = ("face_landmark", "iris_landmark", "face_detection_short_range")


@dataclass(frozen=True)
class NetworkBenchOptions:
    iterations: int = 200  # timed calls per model, provider and batch size
    warmup: int = 20  # untimed calls first (allocations, CUDA graph capture, clocks)
    batch_sizes: tuple[int, ...] = (1, 2, 4)
    providers: tuple[str, ...] | None = None  # None: every available one
    frame_size: tuple[int, int] = (1280, 720)  # the frame the crops are cut from (pre-processing)


@dataclass(frozen=True)
class NetworkBenchResult:
    providers: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    # model -> provider -> batch size -> p50 ms of one call
    call_ms: dict[str, dict[str, dict[int, float]]]
    preprocess_ms: dict[str, float]

    def speedup_vs_cpu(self, model: str = "face_landmark", batch: int = 1) -> dict[str, float]:
        """Provider -> CPU p50 / provider p50 for one call of ``model`` at ``batch``."""
        per_provider = self.call_ms[model]
        cpu = per_provider.get("CPUExecutionProvider", {}).get(batch)
        if not cpu:
            return {}
        return {provider: cpu / ms[batch] for provider, ms in per_provider.items() if ms.get(batch)}

    def report(self) -> dict:
        models = {}
        for model, per_provider in self.call_ms.items():
            models[model] = {
                provider: {f"batch_{b}_ms": round(ms, 3) for b, ms in by_batch.items()}
                | {f"batch_{b}_ms_per_crop": round(ms / b, 3) for b, ms in by_batch.items() if b > 1}
                for provider, by_batch in per_provider.items()}
        return {"providers": list(self.providers), "batch_sizes": list(self.batch_sizes), "models": models,
                "mesh_speedup_vs_cpu": {p: round(r, 2) for p, r in self.speedup_vs_cpu().items()},
                "preprocess_ms": {k: round(v, 4) for k, v in self.preprocess_ms.items()}}


def sample_crops(size: int, count: int, frame_bgr: np.ndarray) -> np.ndarray:
    """``(count, size, size, 3) uint8`` BGR crops of ``frame_bgr``, each a little shifted, so
    the networks see image content (not zeros) without any one input being cached."""
    height, width = frame_bgr.shape[:2]
    side = min(width, height) // 2
    crops = []
    for k in range(count):
        x = (width - side) // 2 + (k * 7) % 31 - 15
        y = (height - side) // 2 + (k * 5) % 23 - 11
        crops.append(cv2.resize(frame_bgr[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(crops)


def _p50_ms(samples: list[float]) -> float:
    return float(np.median(samples)) * 1e3


def time_interleaved(runs: dict[str, callable], iterations: int, warmup: int) -> dict[str, float]:
    """p50 ms of each zero-argument callable, timed one call of each per round."""
    for run in runs.values():
        for _ in range(warmup):
            run()
    samples = {name: [] for name in runs}
    for _ in range(iterations):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return {name: _p50_ms(values) for name, values in samples.items()}


def preprocess_timings(frame_bgr: np.ndarray, iterations: int, providers: tuple[str, ...]) -> dict[str, float]:
    """Pre-processing p50s, ms: the mesh crop and the two eye crops warped out of the frame on
    the host, the float RGB conversion the models now do in-graph, the same crops cut on each
    provider's device (frame upload included) and, on CUDA, the bare copies."""
    from realtime.stages.inference import DeviceCropper
    from realtime.stages.roi import Roi, crop, crop_to_frame

    height, width = frame_bgr.shape[:2]
    face = Roi(width / 2, height / 2, height * 0.45, height * 0.45, 0.1)
    eye = Roi(width / 2 - height * 0.06, height * 0.45, height * 0.08, height * 0.08, 0.1)
    mesh_patch, _ = crop(frame_bgr, face, MESH_INPUT_SIZE)

    def host_float_conversion():  # what reconstruction did on the host before issue 7
        return cv2.cvtColor(mesh_patch, cv2.COLOR_BGR2RGB).astype(np.float32) * (1.0 / 255.0)

    runs = {"warp_mesh_crop_ms": lambda: crop(frame_bgr, face, MESH_INPUT_SIZE),
            "warp_eye_crops_ms": lambda: (crop(frame_bgr, eye, IRIS_INPUT_SIZE), crop(frame_bgr, eye, IRIS_INPUT_SIZE)),
            "host_float_conversion_ms": host_float_conversion}
    # The same three crops cut by the crop graphs on each provider's device, the frame's
    # upload included: what ReconstructionOptions(device_crop=True) does per frame.
    face_map = crop_to_frame(face, MESH_INPUT_SIZE)[None]
    eye_maps = np.stack([crop_to_frame(eye, IRIS_INPUT_SIZE, mirrored) for mirrored in (False, True)])
    for provider in providers:
        cropper = DeviceCropper(provider, (MESH_INPUT_SIZE, IRIS_INPUT_SIZE))

        def device_crops(cropper=cropper):
            frame_value = cropper.upload(frame_bgr)
            return (cropper.cut(frame_value, MESH_INPUT_SIZE, face_map),
                    cropper.cut(frame_value, IRIS_INPUT_SIZE, eye_maps))

        runs[f"device_crops_ms[{provider}]"] = device_crops
    if "CUDAExecutionProvider" in providers:
        import onnxruntime as ort

        float_patch = host_float_conversion()[None]
        uint8_patch = mesh_patch[None]
        runs.update({
            "upload_uint8_crop_ms": lambda: ort.OrtValue.ortvalue_from_numpy(uint8_patch, "cuda", 0),
            "upload_float_crop_ms": lambda: ort.OrtValue.ortvalue_from_numpy(float_patch, "cuda", 0),
            "upload_frame_ms": lambda: ort.OrtValue.ortvalue_from_numpy(frame_bgr, "cuda", 0),
        })
    return time_interleaved(runs, iterations, warmup=10)


def network_benchmark(options: NetworkBenchOptions = NetworkBenchOptions()) -> NetworkBenchResult:
    """Time every model on every chosen provider at every batch size (see the module doc)."""
    from realtime.stages.democlip import DemoClipOptions, render_demo_frame

    available = available_providers()
    providers = tuple(p for p in (options.providers or PROVIDER_PREFERENCE) if p in available)
    width, height = options.frame_size
    frame = render_demo_frame(0, DemoClipOptions(width=width, height=height, motion=False))
    call_ms: dict[str, dict[str, dict[int, float]]] = {}
    for model in MODELS:
        # Each provider with the slower ones behind it (TensorRT hands what it cannot run to
        # CUDA, as in the app); a session whose first provider failed to start is dropped, so
        # the CPU is never timed under another provider's name.
        sessions = {}
        for provider in providers:
            session = open_session(model, list(PROVIDER_PREFERENCE[PROVIDER_PREFERENCE.index(provider):]))
            if session.provider == provider:
                sessions[provider] = session
        crops = sample_crops(input_size(model), max(options.batch_sizes), frame)
        runs = {(provider, batch): (lambda s=session, x=np.ascontiguousarray(crops[:batch]): s.run({s.input_names[0]: x}))
                for provider, session in sessions.items() for batch in options.batch_sizes}
        timed = time_interleaved(runs, options.iterations, options.warmup)
        call_ms[model] = {provider: {batch: timed[(provider, batch)] for batch in options.batch_sizes}
                          for provider in sessions}
    return NetworkBenchResult(providers, tuple(options.batch_sizes), call_ms,
                              preprocess_timings(frame, options.iterations, providers))


def format_network_report(result: NetworkBenchResult) -> str:
    lines = [f"providers: {', '.join(result.providers)}", "",
             "| model | provider | " + " | ".join(f"batch {b} ms (per crop)" for b in result.batch_sizes) + " |",
             "| --- | --- |" + " --- |" * len(result.batch_sizes)]
    for model, per_provider in result.call_ms.items():
        for provider, by_batch in per_provider.items():
            cells = " | ".join(f"{ms:.3f} ({ms / b:.3f})" for b, ms in by_batch.items())
            lines.append(f"| {model} | {provider} | {cells} |")
    speedups = result.speedup_vs_cpu()
    if speedups:
        lines += ["", "mesh network speed-up over the CPU provider (batch 1): "
                  + ", ".join(f"{p} {r:.1f}x" for p, r in speedups.items())]
    lines += ["", "pre-processing: " + ", ".join(f"{k} {v:.3f}" for k, v in result.preprocess_ms.items())]
    return "\n".join(lines)
