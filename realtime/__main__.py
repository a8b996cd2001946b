"""``python -m realtime`` is the same as the ``selfie3d`` command."""

import sys

from realtime.cli import main

sys.exit(main())
