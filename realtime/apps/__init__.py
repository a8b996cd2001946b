"""What a user runs: the ``selfie3d`` command (``cli``) and the programs behind its subcommands.

``live`` (the try-on window), ``demo`` (the pipeline headless on a clip), ``jobs`` (photos to
busts, one job per photo), ``web`` (``selfie3d serve``), ``calibrate`` (a camera profile from
chessboard views); ``executors`` owns every process pool they use; ``progress`` and ``preload``
serve the command line.
"""
