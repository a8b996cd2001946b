"""``python -m realtime`` is the same as the ``selfie3d`` command."""

from realtime.apps.cli import run

run()
