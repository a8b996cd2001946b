"""The web service (``selfie3d serve``): one page, photo or webcam in, a 3D bust out.

``realtime.apps.web.serve`` holds the options and command-line flags (no FastAPI needed to import
it), ``realtime.apps.web.server`` the FastAPI app, ``realtime.apps.web.bustjob`` the work one upload
does in a worker, ``realtime.apps.web.folders`` the folders the server and its workers own (and
the removal of a dead owner's), and ``static/`` the page with its vendored three.js
(``realtime/apps/web/build_assets.py`` refreshes that copy from npm).
"""

from realtime.apps.web.serve import ServeOptions, add_serve_arguments, run_serve

__all__ = ["ServeOptions", "add_serve_arguments", "run_serve"]
