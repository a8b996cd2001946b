"""ONNX Runtime sessions for the face networks: model verification and execution providers.

Every model file is checked against the SHA-256 in ``models/manifest.json`` before it is
loaded, so a truncated download, a disk error or a swapped file is refused with a clear line
instead of producing wrong meshes. Execution providers are chosen by a pure function of what
the installed ONNX Runtime offers: TensorRT (fp16, engine cache in the user's cache
directory) → CUDA → CPU, or the user's explicit list; the choice and its reason are reported.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from realtime.errors import ModelError
from realtime.resources import models_dir

log = logging.getLogger(__name__)

# Preference order when nothing is asked for: the fastest first.
PROVIDER_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
# The models take any batch size (models/export.py frees the batch axis); callers split larger
# stacks into calls of at most this many crops. It also bounds TensorRT's optimisation profile,
# which needs a largest shape to build its engine for.
MAX_BATCH = 16
PROVIDER_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider", "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider",
}


@dataclass(frozen=True)
class ProviderChoice:
    providers: tuple[str, ...]  # in the order ONNX Runtime should try them
    reason: str

    @property
    def primary(self) -> str:
        return self.providers[0]


def choose_providers(available: list[str] | tuple[str, ...], requested: list[str] | None = None) -> ProviderChoice:
    """Pick execution providers from those available.

    available: provider names ONNX Runtime reports. requested: user names or aliases
    (``tensorrt``, ``cuda``, ``cpu`` or full names), in order; ``None`` picks automatically.
    CPU is always appended as the last resort, since every build has it.
    """
    if requested:
        wanted = [PROVIDER_ALIASES.get(name.lower(), name) for name in requested]
        missing = [name for name in wanted if name not in available]
        if missing:
            raise ModelError(
                f"execution provider(s) {', '.join(missing)} not available in this onnxruntime "
                f"(available: {', '.join(available)}); for GPU install the 'gpu' extra: pip install 'selfie3d[gpu]'"
            )
        chosen = tuple(dict.fromkeys(wanted + ["CPUExecutionProvider"]))
        return ProviderChoice(chosen, "as requested with --providers")
    chosen = tuple(name for name in PROVIDER_PREFERENCE if name in available) or ("CPUExecutionProvider",)
    skipped = [name for name in PROVIDER_PREFERENCE if name not in available]
    reason = f"fastest available; not available: {', '.join(skipped)}" if skipped else "fastest available"
    return ProviderChoice(chosen, reason)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: Path
    sha256: str
    inputs: tuple[dict, ...] = ()
    outputs: tuple[dict, ...] = ()


def load_manifest(directory: Path | None = None) -> dict:
    directory = Path(directory) if directory is not None else models_dir()
    manifest_path = directory / "manifest.json"
    try:
        return json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{manifest_path}: model manifest missing; reinstall selfie3d or run models/export.py") from None
    except json.JSONDecodeError as error:
        raise ModelError(f"{manifest_path}: model manifest is not valid JSON ({error.msg})") from None


def model_spec(name: str, directory: Path | None = None) -> ModelSpec:
    directory = Path(directory) if directory is not None else models_dir()
    manifest = load_manifest(directory)
    try:
        entry = manifest["models"][name]
    except KeyError:
        raise ModelError(f"model '{name}' is not in {directory / 'manifest.json'}") from None
    return ModelSpec(name, directory / entry["file"], entry["sha256"],
                     tuple(entry.get("inputs", ())), tuple(entry.get("outputs", ())))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_model_bytes(spec: ModelSpec) -> bytes:
    """The model file's bytes after checking its SHA-256 against the manifest.

    Hashing and loading the same bytes closes the gap in which the file could change
    between the check and the load.
    """
    try:
        data = spec.path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{spec.path}: model file missing; reinstall selfie3d or run models/export.py") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise ModelError(
            f"{spec.path}: checksum mismatch (expected sha256 {spec.sha256[:12]}…, got {actual[:12]}…); "
            "the file is damaged or was replaced — reinstall selfie3d or rebuild with models/export.py"
        )
    return data


def cpu_session_settings(directory: Path | None = None) -> dict:
    """The CPU session settings the model build measured as fastest (manifest key
    ``cpu_session_options``)."""
    return dict(load_manifest(directory).get("cpu_session_options", {}))


def gpu_name() -> str | None:
    """The first NVIDIA GPU's name from nvidia-smi, or None where there is none."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return None
    try:
        output = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return output.strip().splitlines()[0] if output.strip() else None


def tensorrt_version() -> str | None:
    try:
        import tensorrt

        return str(tensorrt.__version__)
    except ImportError:
        return None


def engine_cache_key(gpu: str | None, trt_version: str | None, ort_version: str) -> str:
    """Folder name for a TensorRT engine cache. An engine only runs on the GPU model and the
    TensorRT version that built it, so each combination gets its own folder and a driver or
    GPU change rebuilds instead of loading an incompatible engine."""
    raw = f"{gpu or 'unknown-gpu'}-trt{trt_version or 'unknown'}-ort{ort_version}"
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in raw)


def trt_cache_dir() -> Path:
    """This GPU's and TensorRT version's engine cache under the user's cache directory."""
    import onnxruntime as ort
    from platformdirs import user_cache_dir

    base = Path(os.environ.get("SELFIE3D_TRT_CACHE", user_cache_dir("selfie3d"))) / "tensorrt"
    path = base / engine_cache_key(gpu_name(), tensorrt_version(), ort.__version__)
    path.mkdir(parents=True, exist_ok=True)
    return path


def trt_profile_shapes(input_name: str, input_shape: list, typical_batch: int = 1) -> dict[str, str]:
    """TensorRT optimisation-profile options for a model whose batch axis is free.

    input_shape: the manifest's shape, batch first (a name such as ``"batch"``). The engine is
    built for batches 1..MAX_BATCH and tuned for ``typical_batch`` (1 face; 2 for the eyes).
    """
    rest = "x".join(str(int(d)) for d in input_shape[1:])
    return {"trt_profile_min_shapes": f"{input_name}:1x{rest}",
            "trt_profile_opt_shapes": f"{input_name}:{typical_batch}x{rest}",
            "trt_profile_max_shapes": f"{input_name}:{MAX_BATCH}x{rest}"}


# Batch each model usually runs at: one face; both eyes in one call.
TYPICAL_BATCH = {"iris_landmark": 2}


def provider_options(provider: str, spec: ModelSpec | None = None) -> dict:
    if provider == "TensorrtExecutionProvider":
        options = {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
                   "trt_engine_cache_path": str(trt_cache_dir()), "trt_timing_cache_enable": True}
        if spec is not None and spec.inputs and isinstance(spec.inputs[0]["shape"][0], str):
            options.update(trt_profile_shapes(spec.inputs[0]["name"], spec.inputs[0]["shape"],
                                              TYPICAL_BATCH.get(spec.name, 1)))
        return options
    return {}


class _EngineBuildNotice:
    """Says on stderr that a TensorRT engine is being built (minutes, the first time) and how
    long it has taken, so a first start does not look like a hang."""

    def __init__(self, name: str, providers: tuple[str, ...]):
        self.active = providers[0] == "TensorrtExecutionProvider" and not any(trt_cache_dir().glob("*.engine"))
        self.name = name

    def __enter__(self):
        if self.active:
            import sys
            import threading
            import time

            self._start = time.monotonic()
            self._done = threading.Event()

            def tick():
                while not self._done.wait(5.0):
                    print(f"\rselfie3d: building TensorRT engine for {self.name}: {time.monotonic() - self._start:.0f} s "
                          "(first start only; cached for next time)", end="", file=sys.stderr, flush=True)

            print(f"selfie3d: building TensorRT engine for {self.name} (first start only)", file=sys.stderr)
            self._thread = threading.Thread(target=tick, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.active:
            self._done.set()


@dataclass
class Session:
    """A loaded model: the ONNX Runtime session plus what ran it."""

    name: str
    session: object
    provider: str
    input_names: tuple[str, ...] = field(default_factory=tuple)
    output_names: tuple[str, ...] = field(default_factory=tuple)

    def run(self, feeds: dict) -> dict:
        _mark_first_network_call()
        outputs = self.session.run(None, feeds)
        return dict(zip(self.output_names, outputs))

    def run_batched(self, images: np.ndarray, max_batch: int = MAX_BATCH) -> dict[str, np.ndarray]:
        """Outputs by name for a stack of crops ``(n, H, W, 3) uint8`` BGR, n >= 1, in calls
        of at most ``max_batch`` (<= MAX_BATCH); each output has n rows, in ``images``' order."""
        step = max(1, min(max_batch, MAX_BATCH))
        return self.joined([self.run({self.input_names[0]: images[start:start + step]})
                            for start in range(0, len(images), step)])

    def joined(self, chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The outputs of consecutive calls as one: each output's rows in call order."""
        if len(chunks) == 1:
            return chunks[0]
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in self.output_names}

    def run_on_device(self, images) -> dict[str, np.ndarray]:
        """Outputs by name (on the host) for crops already on the execution provider's device:
        ``images`` is an ``onnxruntime.OrtValue`` ``(n, H, W, 3) uint8`` BGR, n <= MAX_BATCH
        (from ``DeviceCropper.cut``), bound to the input without a copy."""
        binding = self.session.io_binding()
        binding.bind_ortvalue_input(self.input_names[0], images)
        for name in self.output_names:
            binding.bind_output(name)
        self.session.run_with_iobinding(binding)
        return dict(zip(self.output_names, binding.copy_outputs_to_cpu()))


GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


FIRST_CALL_MARK_ENV = "SELFIE3D_MARK_FIRST_NETWORK_CALL"
"""When this variable is set, the process writes ``selfie3d-first-network-call <unix time>`` to
stderr at its first network call: ``selfie3d bench --bust`` times a command's start-up with it."""
_first_call_marked = False


def _mark_first_network_call() -> None:
    global _first_call_marked
    if _first_call_marked or not os.environ.get(FIRST_CALL_MARK_ENV):
        return
    _first_call_marked = True
    import sys
    import time

    print(f"selfie3d-first-network-call {time.time():.6f}", file=sys.stderr, flush=True)


def provider_device(provider: str) -> str:
    """The ``OrtValue`` device type where ``provider`` wants its inputs: "cuda" or "cpu"."""
    return "cuda" if provider in GPU_PROVIDERS else "cpu"


class DeviceCropper:
    """Cuts the networks' rotated crops on the execution provider's device (models
    ``crop_192`` and ``crop_64``: GridSample, as ``cv2.warpAffine``): the frame crosses to the
    device once per frame and the face and eye crops never come back to the host.

    ``upload(frame) -> OrtValue``; ``cut(frame_value, size, to_frame) -> OrtValue`` of
    ``(n, size, size, 3) uint8`` on the device, for ``Session.run_on_device``. On the CPU
    provider the same path runs on the host (tests; ``selfie3d bench --networks`` times it).
    """

    def __init__(self, provider: str, sizes: tuple[int, ...], directory: Path | None = None):
        self.device = provider_device(provider)
        # The crop graphs are a handful of elementwise ops and one GridSample: CUDA runs them
        # directly; TensorRT would only add an engine build per frame size.
        providers = ["cuda"] if self.device == "cuda" else ["cpu"]
        self.sessions = {size: open_session(f"crop_{size}", providers, directory) for size in sizes}

    def upload(self, frame_bgr: np.ndarray):
        import onnxruntime as ort

        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(frame_bgr), self.device, 0)

    def cut(self, frame_value, size: int, to_frame: np.ndarray):
        """Crops ``(n, size, size, 3) uint8`` on the device. to_frame: ``(n, 2, 3)`` crop ->
        frame affine maps (the inverses of ``realtime.stages.roi.crop_transform``), n <= MAX_BATCH."""
        session = self.sessions[size].session
        binding = session.io_binding()
        binding.bind_ortvalue_input("frame", frame_value)
        binding.bind_cpu_input("to_frame", np.ascontiguousarray(to_frame, dtype=np.float32))
        binding.bind_output("crops", self.device, 0)
        session.run_with_iobinding(binding)
        return binding.get_outputs()[0]


@lru_cache(maxsize=1)
def available_providers() -> tuple[str, ...]:
    import onnxruntime as ort

    return tuple(ort.get_available_providers())


def open_session(name: str, requested_providers: list[str] | None = None,
                 directory: Path | None = None, threads: int | None = None) -> Session:
    """Verify and load model ``name`` with the chosen execution providers.

    If the preferred provider fails to start (driver missing, engine build error) the session
    falls back to the next one with a warning rather than failing the run.
    """
    import onnxruntime as ort

    spec = model_spec(name, directory)
    data = verified_model_bytes(spec)
    choice = choose_providers(available_providers(), requested_providers)
    settings = cpu_session_settings(directory)
    options = ort.SessionOptions()
    level = settings.get("graph_optimization_level", "ORT_ENABLE_ALL")
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    options.intra_op_num_threads = threads if threads is not None else int(settings.get("intra_op_num_threads", 1))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning threads burn a core waiting for work; in a pipeline that also decodes, renders
    # and fuses on a 2-core machine that steals more than it gains.
    options.add_session_config_entry("session.intra_op.allow_spinning",
                                     "1" if settings.get("allow_spinning", False) else "0")
    options.log_severity_level = 3
    log.info("%s: execution providers %s (%s)", name, ", ".join(choice.providers), choice.reason)
    last_error = None
    for start in range(len(choice.providers)):
        providers = choice.providers[start:]
        try:
            session = _create_session(ort, spec, data, options, providers)
        except Exception as error:  # a provider that cannot start: fall back to the next
            if providers[0] == "TensorrtExecutionProvider" and clear_engine_cache():
                # A corrupt engine, or one a driver update made stale, fails to load: build a
                # fresh one before giving up on TensorRT.
                log.warning("%s: TensorRT could not use its engine cache (%s); rebuilding it", name, error)
                try:
                    session = _create_session(ort, spec, data, options, providers)
                except Exception as retry_error:
                    error = retry_error
                else:
                    return _session(name, session, providers)
            last_error = error
            log.warning("%s: %s failed to start (%s); falling back", name, providers[0], error)
            continue
        return _session(name, session, providers)
    raise ModelError(f"{name}: no execution provider could load the model ({last_error})")


def _create_session(ort, spec: ModelSpec, data: bytes, options, providers: tuple[str, ...]):
    with _EngineBuildNotice(spec.name, providers):
        return ort.InferenceSession(data, sess_options=options,
                                    providers=[(p, provider_options(p, spec)) for p in providers])


def clear_engine_cache() -> bool:
    """Delete this GPU's cached TensorRT engines; True if there were any."""
    removed = False
    for item in trt_cache_dir().iterdir():
        if item.is_file():
            item.unlink()
            removed = True
    return removed


def _session(name: str, session, providers: tuple[str, ...]) -> Session:
    used = session.get_providers()[0]
    if used != providers[0]:
        log.warning("%s: %s unavailable at run time; using %s", name, providers[0], used)
    return Session(name, session, used,
                   tuple(i.name for i in session.get_inputs()),
                   tuple(o.name for o in session.get_outputs()))
