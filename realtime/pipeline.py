"""Compatibility: ``realtime.pipeline`` moved to ``realtime.stages.pipeline``; this keeps the pipeline's public API (``Pipeline``, ``PipelineOptions``) as it was first published."""

from realtime.stages.pipeline import *  # noqa: F401,F403
