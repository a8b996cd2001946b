"""Import modules on a background thread while the foreground does other work.

A ``selfie3d photo`` process spends ~ 0.4 s importing the bust builder's libraries (trimesh pulls
in SciPy's spatial and optimize packages and networkx) and ~ 0.3 s creating the networks' sessions
and running them. Session creation and inference run in ONNX Runtime's C++ code with the GIL
released, so on a second core the imports proceed meanwhile: started first, they are done by the
time the photo has been read and the face found. Errors are not raised here: the foreground's own
import of the same module raises them, with its usual message.
"""

from __future__ import annotations

import importlib
import threading


def preload(*modules: str) -> threading.Thread:
    """Start importing ``modules`` (dotted names) on a daemon thread; returns the thread."""

    def work() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # the foreground's import reports it
                return

    thread = threading.Thread(target=work, name="selfie3d-preload", daemon=True)
    thread.start()
    return thread
