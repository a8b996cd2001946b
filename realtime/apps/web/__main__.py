"""``python -m realtime.apps.web [flags]``: the same as ``selfie3d serve [flags]``."""

import argparse
import sys

from realtime.errors import Selfie3DError
from realtime.apps.web.serve import add_serve_arguments, run_serve

if __name__ == "__main__":  # pool workers are spawned and must not run this again
    parser = argparse.ArgumentParser(prog="python -m realtime.apps.web", description="The selfie3d web page and API.")
    add_serve_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="tracebacks in internal errors, access log")
    try:
        sys.exit(run_serve(parser.parse_args()))
    except Selfie3DError as error:
        print(f"selfie3d: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
