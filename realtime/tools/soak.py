"""Soak run: many frames through capture -> tracking -> reconstruction -> fusion (-> render),
watching resident memory and counting exceptions.

A leak of a few kilobytes a frame is invisible in a 300-frame benchmark and fatal in a
two-hour video call, and so is one exception in ten thousand frames. ``run_soak`` loops the
built-in demo clip (a fresh ``Capture`` per pass, so opening and closing sources is soaked
too) through one ``Pipeline`` with fusion on, optionally rendering each frame headless, and
samples the process's resident set size (RSS). In: ``SoakOptions``. Out: ``SoakResult`` with
RSS after warm-up and at the end (MB), the growth between them, frames per second, the tracked
fraction and the exceptions met (a frame that raises is counted and the run goes on).
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field

from realtime.stages.capture import Capture, CaptureOptions
from realtime.stages.democlip import DemoClipOptions
from realtime.stages.pipeline import Pipeline, PipelineOptions

# Frames before the baseline RSS is taken: sessions, caches, the allocator's arenas and the
# fusion state all grow to their working size during the first passes over the clip.
DEFAULT_WARMUP_FRAMES = 1000
# RSS is sampled every this many frames (reading /proc costs ~20 us; this keeps it invisible).
RSS_SAMPLE_EVERY = 100
# The bound: resident memory may grow at most this much after warm-up, MB.
MAX_GROWTH_MB = 20.0
# At most this many exceptions keep their traceback text in the result.
KEPT_ERRORS = 5


@dataclass(frozen=True)
class SoakOptions:
    frames: int = 20_000  # frames after warm-up
    warmup: int = DEFAULT_WARMUP_FRAMES
    render: bool = False  # also draw each frame headless (EGL) at the clip's size
    pipeline: PipelineOptions = PipelineOptions()  # fusion on by default
    demo: DemoClipOptions = DemoClipOptions()
    progress: bool = False  # print a line every 1000 frames to stderr


@dataclass(frozen=True)
class SoakResult:
    frames: int  # frames processed after warm-up
    seconds: float  # wall time of those frames
    fps: float
    rss_start_mb: float  # after warm-up
    rss_end_mb: float
    rss_peak_mb: float  # highest sample after warm-up
    rss_growth_mb: float  # end - start
    # Least-squares slope of the RSS samples after warm-up, MB per 10,000 frames: tells a steady
    # leak from a one-off step (a cache filling).
    rss_slope_mb_per_10k: float
    tracked_fraction: float
    exceptions: int
    errors: list[str] = field(default_factory=list)  # the first few, with tracebacks
    rss_source: str = ""
    provider: str = ""
    rendered: bool = False

    @property
    def passed(self) -> bool:
        return self.exceptions == 0 and self.rss_growth_mb <= MAX_GROWTH_MB

    def report(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()} | {
            "passed": self.passed, "max_growth_mb": MAX_GROWTH_MB}


def rss_mb() -> tuple[float, str]:
    """The resident set size of this process in MB (2**20 bytes) and how it was measured."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20, "psutil"
    except ImportError:
        pass
    try:
        with open("/proc/self/statm") as handle:
            resident_pages = int(handle.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20, "/proc/self/statm"
    except (OSError, ValueError, IndexError):
        import resource  # peak, not current: the best a non-Linux system without psutil offers

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "getrusage (peak)"


def _slope_per_10k(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of ``(frame, MB)`` points, MB per 10,000 frames."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return 1e4 * sum((x - mean_x) * (y - mean_y) for x, y in points) / var


def _frames(options: SoakOptions):
    """Demo-clip frames forever, a fresh ``Capture`` per pass (soaks open/close too)."""
    while True:
        with Capture(CaptureOptions(demo=options.demo)) as capture:
            yield from capture


class _HeadlessRender:
    """Draws each result like the live window does, without a window."""

    def __init__(self, pipeline: Pipeline, width: int, height: int):
        from realtime.accessories import library
        from realtime.render import Renderer, RenderOptions, create_headless_context

        self.pipeline = pipeline
        self.ctx = create_headless_context()
        self.renderer = Renderer(self.ctx, RenderOptions(width, height))
        self.accessory = library()[0]

    def __call__(self, result) -> None:
        from realtime.accessories import dress
        from realtime.render import ViewMode

        fused = result.fusion if result.fusion is not None and getattr(result.fusion, "frames_fused", 1) else None
        h, w = result.frame.image.shape[:2]
        dressed = dress(fused, self.accessory, self.renderer.face_triangles)
        self.renderer.render(result.frame.image, fused, self.pipeline.intrinsics_for(w, h), ViewMode.TRYON,
                             dressed.parts, None, read=True, proxy=dressed.proxy)

    def close(self) -> None:
        self.renderer.close()
        self.ctx.release()


def run_soak(options: SoakOptions = SoakOptions()) -> SoakResult:
    """Run ``options.warmup + options.frames`` frames and report memory and errors."""
    import sys

    total = options.warmup + options.frames
    errors: list[str] = []
    exceptions = tracked = 0
    samples: list[tuple[int, float]] = []
    rss_start, source = rss_mb()
    start_time = time.perf_counter()
    with Pipeline(options.pipeline) as pipeline:
        render = _HeadlessRender(pipeline, options.demo.width, options.demo.height) if options.render else None
        try:
            for count, frame in enumerate(_frames(options), start=1):
                try:
                    result = pipeline.process(frame)
                    tracked += bool(result.faces) and count > options.warmup
                    if render is not None:
                        render(result)
                except Exception:  # counted, kept, and the soak goes on: that is what it measures
                    exceptions += 1
                    if len(errors) < KEPT_ERRORS:
                        errors.append(f"frame {count}: {traceback.format_exc()}")
                if count == options.warmup:
                    rss_start, source = rss_mb()
                    samples = [(0, rss_start)]
                    start_time = time.perf_counter()
                elif count > options.warmup and (count - options.warmup) % RSS_SAMPLE_EVERY == 0:
                    samples.append((count - options.warmup, rss_mb()[0]))
                if options.progress and count % 1000 == 0:
                    print(f"soak: {count}/{total} frames, RSS {samples[-1][1] if samples else rss_mb()[0]:.1f} MB, "
                          f"{exceptions} exceptions", file=sys.stderr, flush=True)
                if count >= total:
                    break
        finally:
            if render is not None:
                render.close()
        provider = pipeline.provider
    seconds = time.perf_counter() - start_time
    rss_end = rss_mb()[0]
    samples.append((options.frames, rss_end))
    after = [mb for _, mb in samples]
    return SoakResult(
        frames=options.frames, seconds=seconds, fps=options.frames / max(seconds, 1e-9),
        rss_start_mb=rss_start, rss_end_mb=rss_end, rss_peak_mb=max(after), rss_growth_mb=rss_end - rss_start,
        rss_slope_mb_per_10k=_slope_per_10k(samples), tracked_fraction=tracked / max(options.frames, 1),
        exceptions=exceptions, errors=errors, rss_source=source, provider=provider, rendered=options.render)


def format_soak(result: SoakResult) -> str:
    verdict = "PASS" if result.passed else "FAIL"
    lines = [
        f"soak: {result.frames} frames after warm-up in {result.seconds:.1f} s ({result.fps:.1f} FPS), "
        f"provider {result.provider}{', rendered headless' if result.rendered else ''}",
        f"  RSS ({result.rss_source}): {result.rss_start_mb:.1f} MB after warm-up -> {result.rss_end_mb:.1f} MB at the end "
        f"(growth {result.rss_growth_mb:+.1f} MB, peak {result.rss_peak_mb:.1f} MB, "
        f"trend {result.rss_slope_mb_per_10k:+.2f} MB per 10k frames; limit +{MAX_GROWTH_MB:.0f} MB)",
        f"  tracked {result.tracked_fraction:.1%} of frames, {result.exceptions} exceptions: {verdict}",
    ]
    lines += [f"  {error.rstrip()}" for error in result.errors]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m realtime.tools.soak [FRAMES] [--render]
    import sys

    frames = int(next((a for a in sys.argv[1:] if a.isdigit()), SoakOptions.frames))
    soak = run_soak(SoakOptions(frames=frames, render="--render" in sys.argv, progress=True))
    print(format_soak(soak))
    sys.exit(0 if soak.passed else 1)
