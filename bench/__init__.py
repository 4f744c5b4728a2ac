"""Benchmarks: dgtui next to boto3, s5cmd and DeltaGlider on a local S3 server.

Run ``python -m bench --help`` (or ``./dev bench``).
"""
