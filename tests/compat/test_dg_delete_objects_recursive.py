"""DeltaGlider 6.2.0's tests/integration/test_delete_objects_recursive.py, on a real S3 server (see conftest).

Where DeltaGlider replaced its service's ``delete_recursive`` by a mock that
returned counts, the objects those counts describe are stored for real; where
it patched the single delete to raise, the S3 delete calls fail (injected on
the client's botocore events). Its two warning tests assert messages that only
its mocked service produced, and are not collected.
"""

import hashlib

import pytest

from .conftest import inject_fault
from .sdk import create_client

DELETES = ("DeleteObject", "DeleteObjects")


def direct(content=b"direct content"):
    """An object as DeltaGlider stores a file whole."""
    return {"data": content, "metadata": {"dg-file-sha256": hashlib.sha256(content).hexdigest(),
                                           "dg-file-size": str(len(content)), "dg-compression": "none",
                                           "dg-tool": "deltaglider/6.2.0", "dg-original-name": "x"}}


def delta(ref_key):
    return {"data": b"\xd6\xc3\xc4\x00delta", "metadata": {
        "dg-file-sha256": "a" * 64, "dg-file-size": "1000", "dg-ref-key": ref_key, "dg-ref-sha256": "b" * 64,
        "dg-delta-size": "9", "dg-tool": "deltaglider/6.2.0", "dg-original-name": "x",
        "dg-created-at": "2025-01-01T00:00:00Z", "dg-delta-cmd": "xdelta3"}}


def reference():
    return {"data": b"reference bytes", "metadata": {"dg-file-sha256": "b" * 64, "dg-note": "reference",
                                                     "dg-tool": "deltaglider/6.2.0", "dg-source-name": "x"}}


@pytest.fixture
def client():
    return create_client()


class TestDeleteObjectsRecursiveBasicFunctionality:
    def test_delete_single_object_with_file_prefix(self, client, objects):
        objects["test-bucket/file.txt"] = {"size": 100}
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="file.txt")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert "DeletedCount" in response
        assert "FailedCount" in response
        assert "DeltaGliderInfo" in response
        info = response["DeltaGliderInfo"]
        assert "DeltasDeleted" in info
        assert "ReferencesDeleted" in info
        assert "DirectDeleted" in info
        assert "OtherDeleted" in info

    def test_delete_directory_with_trailing_slash(self, client, objects):
        objects["test-bucket/dir/file1.txt"] = {"size": 100}
        objects["test-bucket/dir/file2.txt"] = {"size": 200}
        objects["test-bucket/dir/sub/file3.txt"] = {"size": 300}
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="dir/")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert response["DeletedCount"] >= 0
        assert response["FailedCount"] == 0

    def test_delete_empty_prefix_returns_zero_counts(self, client):
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert response["DeletedCount"] >= 0
        assert response["FailedCount"] == 0


class TestDeleteObjectsRecursiveDeltaSuffixHandling:
    def test_delete_file_with_delta_suffix_fallback(self, client, objects):
        objects["test-bucket/archive.zip.delta"] = {"size": 500, "metadata": {"original_name": "archive.zip"}}
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="archive.zip")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert "test-bucket/archive.zip.delta" not in objects

    def test_delete_file_already_with_delta_suffix(self, client, objects):
        objects["test-bucket/file.zip.delta"] = {"size": 300}
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="file.zip.delta")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200

    def test_delta_suffix_not_added_for_directory_prefix(self, client, objects):
        objects["test-bucket/dir/file.txt"] = {"size": 100}
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="dir/")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


class TestDeleteObjectsRecursiveStatisticsAggregation:
    def test_aggregates_deleted_count_from_service_and_single_deletes(self, client, objects):
        objects["test-bucket/test/reference.bin"] = reference()
        objects["test-bucket/test/a.zip.delta"] = delta("test/reference.bin")
        objects["test-bucket/test/b.zip.delta"] = delta("test/reference.bin")
        objects["test-bucket/test/c.txt"] = direct(b"c")
        objects["test-bucket/test/d.txt"] = direct(b"d")
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="test/")
        assert response["DeletedCount"] == 5
        assert response["FailedCount"] == 0
        assert response["DeltaGliderInfo"]["DeltasDeleted"] == 2
        assert response["DeltaGliderInfo"]["ReferencesDeleted"] == 1
        assert response["DeltaGliderInfo"]["DirectDeleted"] == 2
        assert response["DeltaGliderInfo"]["OtherDeleted"] == 0

    def test_aggregates_single_delete_counts_with_service_counts(self, client, objects):
        objects["test-bucket/file.txt"] = {"size": 100}
        objects["test-bucket/file.txt/reference.bin"] = reference()
        objects["test-bucket/file.txt/a.zip.delta"] = delta("file.txt/reference.bin")
        objects["test-bucket/file.txt/c.txt"] = direct(b"c")
        objects["test-bucket/file.txt/d.txt"] = direct(b"d")
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="file.txt")
        assert response["DeletedCount"] >= 3
        assert response["DeltaGliderInfo"]["DeltasDeleted"] >= 1


class TestDeleteObjectsRecursiveErrorHandling:
    def test_single_delete_error_captured_in_errors_list(self, client, objects):
        objects["test-bucket/file.txt"] = {"size": 100}
        inject_fault(client, DELETES, "Simulated delete error")
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="file.txt")
        assert response["FailedCount"] > 0
        assert "Errors" in response
        assert any("Simulated delete error" in err for err in response["Errors"])

    def test_service_errors_propagated_in_response(self, client, objects):
        objects["test-bucket/test/object1.txt"] = {"size": 10}
        objects["test-bucket/test/object2.txt"] = {"size": 10}
        inject_fault(client, DELETES, "Error deleting object")
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="test/")
        assert response["FailedCount"] >= 1
        assert "Errors" in response
        assert any("Error deleting object" in err for err in response["Errors"])
        assert "test-bucket/test/object1.txt" in objects

    def test_combines_single_and_service_errors(self, client, objects):
        objects["test-bucket/file.txt"] = {"size": 100}
        objects["test-bucket/file.txt/inner.txt"] = {"size": 100}
        inject_fault(client, DELETES, "Simulated delete error")
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="file.txt")
        assert "Errors" in response
        errors_str = " ".join(response["Errors"])
        assert "file.txt" in errors_str and "inner.txt" in errors_str
        assert "Simulated delete error" in errors_str


class TestDeleteObjectsRecursiveSingleDeleteDetails:
    def test_single_delete_details_included_for_file_prefix(self, client, objects):
        objects["test-bucket/file.txt"] = direct()
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="file.txt")
        assert "SingleDeletes" in response["DeltaGliderInfo"]
        single_deletes = response["DeltaGliderInfo"]["SingleDeletes"]
        assert len(single_deletes) > 0
        assert single_deletes[0]["Key"] == "file.txt"
        assert single_deletes[0]["Type"] == "direct"
        assert "DependentDeltas" in single_deletes[0]
        assert "Warnings" in single_deletes[0]

    def test_single_delete_includes_stored_key_when_different(self, client, objects):
        objects["test-bucket/file.zip.delta"] = {"size": 200}
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="file.zip")
        assert "SingleDeletes" in response["DeltaGliderInfo"]
        single_deletes = response["DeltaGliderInfo"]["SingleDeletes"]
        if len(single_deletes) > 0:
            detail = single_deletes[0]
            if detail["Key"] != "file.zip.delta":
                assert "StoredKey" in detail


class TestDeleteObjectsRecursiveEdgeCases:
    def test_nonexistent_prefix_returns_zero_counts(self, client):
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="nonexistent/path/")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert response["DeletedCount"] >= 0
        assert response["FailedCount"] == 0

    def test_duplicate_candidates_handled_correctly(self, client, objects):
        objects["test-bucket/file.delta"] = {"size": 100}
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="file.delta")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200

    def test_unknown_result_type_categorized_as_other(self, client, objects):
        """A plain S3 object (no DeltaGlider metadata) is neither delta, reference nor direct."""
        objects["test-bucket/file.txt"] = {"size": 100}
        response = client.delete_objects_recursive(Bucket="test-bucket", Prefix="file.txt")
        assert response["DeltaGliderInfo"]["OtherDeleted"] >= 1

    def test_kwargs_parameter_accepted(self, client):
        response = client.delete_objects_recursive(
            Bucket="test-bucket",
            Prefix="test/",
            ExtraParam="value",
            AnotherParam=123,
        )
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
