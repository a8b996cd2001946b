"""User-facing errors.

A ``Selfie3DError`` carries one line that tells the user what went wrong and what to do; the
command line prints it without a traceback (unless ``--debug``) and exits non-zero. Anything
else that escapes is a bug and keeps its traceback.
"""


class Selfie3DError(Exception):
    """An error caused by input, environment or configuration, explained in one line."""

    exit_code = 2


class InputError(Selfie3DError):
    """A file, camera or argument that cannot be used as given."""


class ModelError(Selfie3DError):
    """A model file that is missing, altered or cannot be loaded."""

    exit_code = 3
