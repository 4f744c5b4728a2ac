"""The backend switch of the test suite: which S3 servers the suite and its matrix run on."""

from __future__ import annotations

import os

import pytest

from dgtui.core.errors import DgError
from dgtui.testing.backends import MotoProcess, backends_from_environment, endpoint_backend


def test_the_suite_runs_on_seaweedfs_unless_told_otherwise():
    assert backends_from_environment({}) == ("seaweedfs",)
    assert backends_from_environment({"DGTUI_TEST_BACKEND": "moto"}) == ("moto",)
    assert backends_from_environment({"DGTUI_TEST_BACKEND": " Rclone, moto ,rclone"}) == ("rclone", "moto")
    assert backends_from_environment({"DGTUI_TEST_ENDPOINT": "http://127.0.0.1:9000"}) == ("endpoint",)
    with pytest.raises(DgError, match="unknown backend 'minio'"):
        backends_from_environment({"DGTUI_TEST_BACKEND": "minio"})


def test_an_endpoint_needs_its_credentials():
    backend = endpoint_backend({"DGTUI_TEST_ENDPOINT": "http://127.0.0.1:9000/", "DGTUI_TEST_ACCESS_KEY": "a",
                                "DGTUI_TEST_SECRET_KEY": "b", "DGTUI_TEST_REGION": "eu-central-1"})
    assert (backend.name, backend.endpoint_url, backend.region) == ("endpoint", "http://127.0.0.1:9000", "eu-central-1")
    assert backend.env()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    with pytest.raises(DgError, match="needs credentials"):
        endpoint_backend({"DGTUI_TEST_ENDPOINT": "http://127.0.0.1:9000"})
    with pytest.raises(DgError, match="DGTUI_TEST_ENDPOINT"):
        endpoint_backend({})


def test_a_server_process_answers_and_is_gone_after_stop(tmp_path):
    server = MotoProcess(tmp_path)
    backend = server.start()
    try:
        client = backend.boto3_client()
        client.create_bucket(Bucket="started")
        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["started"]
        pid = server._process.pid if server._process else 0
    finally:
        server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
