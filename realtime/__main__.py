"""``python -m realtime`` is the same as the ``selfie3d`` command."""

import sys

from realtime.apps.cli import main

sys.exit(main())
