"""Helpers for tests and benchmarks: a local S3 server and a fault-injecting proxy."""

from dgtui.server import LocalS3Server
from dgtui.testing.proxy import TcpProxy

__all__ = ["LocalS3Server", "TcpProxy"]
