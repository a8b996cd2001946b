"""Development tools: benchmarks, accuracy runs and the builders of ``realtime/data``.

Nothing in the runtime packages imports these (``tests/test_layout.py`` checks); ``selfie3d
bench`` and the acceptance tests do. ``bench`` (per-stage latency, jitter; ``--pose``,
``--render``, ``--bust``, ``--networks``, ``--soak``), ``render_bench``, ``network_bench``,
``soak``, ``web_load``, ``pose_accuracy`` and ``scan_accuracy`` (rendered heads of known pose
and shape: ``synthetic_face``), ``likeness`` (busts against their photos), ``chessboard``
(synthetic calibration views), and the builders ``rigidity_build`` and ``topology_build``.
"""
