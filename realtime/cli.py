"""Compatibility: ``realtime.cli`` moved to ``realtime.apps.cli``; this keeps the ``selfie3d`` entry point of installs made before the move (their script imports
``realtime.cli:main``)."""

from realtime.apps.cli import *  # noqa: F401,F403
