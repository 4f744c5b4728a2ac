"""DeltaGlider 6.2.0's tests/integration/test_client.py, on a real S3 server (see conftest)."""

import hashlib

import pytest

from .conftest import TEST_BUCKET
from .sdk import BucketStats, CompressionEstimate, ObjectInfo, create_client


@pytest.fixture
def client(objects):
    """A client on the test server, with DeltaGlider's test objects in test-bucket."""
    client = create_client()
    seeded = {
        "test-bucket/file1.txt": {"size": 100, "metadata": {}},
        "test-bucket/folder1/file2.txt": {"size": 200, "metadata": {}},
        "test-bucket/folder1/file3.txt": {"size": 300, "metadata": {}},
        "test-bucket/folder2/file4.txt": {"size": 400, "metadata": {}},
        "test-bucket/archive.zip.delta": {
            "size": 50,
            "metadata": {"file_size": "1000", "compression_ratio": "0.95"},
        },
    }
    for key, obj in seeded.items():
        objects[key] = obj
    return client


class TestCredentialHandling:
    """Test AWS credential passing."""

    def test_create_client_with_explicit_credentials(self, tmp_path):
        client = create_client(
            aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region_name="us-west-2",
        )
        assert client is not None
        assert client.service is not None
        storage = client.service.storage
        assert hasattr(storage, "client")
        assert storage.client is not None

    def test_create_client_with_session_token(self, tmp_path):
        client = create_client(
            aws_access_key_id="ASIAIOSFODNN7EXAMPLE",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            aws_session_token="FwoGZXIvYXdzEBEaDH...",
        )
        assert client is not None
        assert client.service.storage.client is not None

    def test_create_client_without_credentials_uses_environment(self, tmp_path):
        client = create_client()
        assert client is not None
        assert client.service.storage.client is not None

    def test_create_client_with_endpoint_and_credentials(self, tmp_path):
        client = create_client(
            endpoint_url="http://localhost:9000",
            aws_access_key_id="minioadmin",
            aws_secret_access_key="minioadmin",
        )
        assert client is not None
        assert client.endpoint_url == "http://localhost:9000"


class TestBoto3Compatibility:
    """Test boto3-compatible methods."""

    def test_put_object_with_bytes(self, client, objects):
        response = client.put_object(Bucket="test-bucket", Key="test.txt", Body=b"Hello World")
        assert "ETag" in response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        obj = objects["test-bucket/test.txt"]
        assert obj["data"] == b"Hello World"

    def test_put_object_with_string(self, client, objects):
        response = client.put_object(Bucket="test-bucket", Key="test2.txt", Body="Hello String")
        assert "ETag" in response
        obj = objects["test-bucket/test2.txt"]
        assert obj["data"] == b"Hello String"

    def test_get_object(self, client, objects):
        content = b"Test Content"
        sha256 = hashlib.sha256(content).hexdigest()
        objects["test-bucket/get-test.txt"] = {
            "data": content,
            "size": len(content),
            "metadata": {
                "file_sha256": sha256,
                "file_size": str(len(content)),
                "original_name": "get-test.txt",
                "compression": "none",
                "tool": "deltaglider/0.2.0",
            },
        }
        response = client.get_object(Bucket="test-bucket", Key="get-test.txt")
        assert "Body" in response
        content = response["Body"].read()
        assert content == b"Test Content"

    def test_get_object_regular_s3_file(self, client, objects):
        content = b"Regular S3 File Content"
        objects["test-bucket/regular-file.pdf"] = {"data": content, "size": len(content), "metadata": {}}
        response = client.get_object(Bucket="test-bucket", Key="regular-file.pdf")
        assert "Body" in response
        downloaded_content = response["Body"].read()
        assert downloaded_content == content
        assert response["ContentLength"] == len(content)

    def test_list_objects(self, client):
        response = client.list_objects(Bucket="test-bucket")
        assert isinstance(response, dict)
        assert response["KeyCount"] > 0
        assert len(response["Contents"]) > 0
        for obj in response["Contents"]:
            assert "Key" in obj
            assert "Size" in obj
            assert "LastModified" in obj
            assert "Metadata" in obj
        response_with_metadata = client.list_objects(Bucket="test-bucket", FetchMetadata=True)
        assert isinstance(response_with_metadata, dict)
        assert response_with_metadata["KeyCount"] > 0

    def test_list_objects_with_delimiter(self, client):
        response = client.list_objects(Bucket="test-bucket", Prefix="", Delimiter="/")
        assert len(response.get("CommonPrefixes", [])) > 0
        assert {"Prefix": "folder1/"} in response["CommonPrefixes"]
        assert {"Prefix": "folder2/"} in response["CommonPrefixes"]

    def test_delete_object(self, client, objects):
        objects["test-bucket/to-delete.txt"] = {"size": 10}
        response = client.delete_object(Bucket="test-bucket", Key="to-delete.txt")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert "test-bucket/to-delete.txt" not in objects

    def test_delete_object_with_delta_suffix_fallback(self, client, objects):
        objects["test-bucket/file.zip.delta"] = {
            "size": 100,
            "metadata": {"original_name": "file.zip", "compression": "delta"},
        }
        response = client.delete_object(Bucket="test-bucket", Key="file.zip")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert response["DeltaGliderInfo"]["Deleted"] is True
        assert "test-bucket/file.zip.delta" not in objects

    def test_delete_objects(self, client, objects):
        objects["test-bucket/del1.txt"] = {"size": 10}
        objects["test-bucket/del2.txt"] = {"size": 20}
        response = client.delete_objects(
            Bucket="test-bucket",
            Delete={"Objects": [{"Key": "del1.txt"}, {"Key": "del2.txt"}]},
        )
        assert len(response["Deleted"]) == 2
        assert "test-bucket/del1.txt" not in objects


class TestDeltaGliderFeatures:
    """Test DeltaGlider-specific features."""

    def test_compression_estimation_for_archive(self, client, tmp_path):
        test_file = tmp_path / "test.zip"
        test_file.write_bytes(b"PK\x03\x04" + b"0" * 1000)
        estimate = client.estimate_compression(test_file, "test-bucket", "archives/")
        assert isinstance(estimate, CompressionEstimate)
        assert estimate.should_use_delta is True
        assert estimate.original_size == test_file.stat().st_size

    def test_compression_estimation_for_image(self, client, tmp_path):
        test_file = tmp_path / "image.jpg"
        test_file.write_bytes(b"\xff\xd8\xff" + b"0" * 1000)
        estimate = client.estimate_compression(test_file, "test-bucket", "images/")
        assert estimate.should_use_delta is False
        assert estimate.estimated_ratio == 0.0

    def test_find_similar_files(self, client):
        similar = client.find_similar_files("test-bucket", "folder1/", "file_v1.txt")
        assert isinstance(similar, list)
        assert any("folder1/" in item["Key"] for item in similar)

    def test_upload_batch(self, client, tmp_path):
        files = []
        for i in range(3):
            f = tmp_path / f"batch{i}.txt"
            f.write_text(f"Content {i}")
            files.append(f)
        results = client.upload_batch(files, "s3://test-bucket/batch/")
        assert len(results) == 3
        for result in results:
            assert result.original_size > 0

    def test_download_batch(self, client, objects, tmp_path):
        for i in range(3):
            key = f"test-bucket/download/file{i}.txt"
            content = f"Content {i}".encode()
            objects[key] = {
                "data": content,
                "size": len(content),
                "metadata": {
                    "file_sha256": hashlib.sha256(content).hexdigest(),
                    "file_size": str(len(content)),
                    "compression": "none",
                    "tool": "deltaglider/0.2.0",
                },
            }
        s3_urls = [f"s3://test-bucket/download/file{i}.txt" for i in range(3)]
        results = client.download_batch(s3_urls, tmp_path)
        assert len(results) == 3
        for i, path in enumerate(results):
            assert path.exists()
            assert path.read_text() == f"Content {i}"

    def test_get_object_info(self, client):
        info = client.get_object_info("s3://test-bucket/archive.zip.delta")
        assert isinstance(info, ObjectInfo)
        assert info.is_delta is True
        assert info.original_size == 1000
        assert info.compressed_size == 50
        assert info.compression_ratio == 0.95

    def test_get_bucket_stats(self, client):
        stats = client.get_bucket_stats("test-bucket")
        assert isinstance(stats, BucketStats)
        assert stats.object_count > 0
        assert stats.total_size > 0
        assert stats.delta_objects >= 1
        detailed_stats = client.get_bucket_stats("test-bucket", mode="detailed")
        assert isinstance(detailed_stats, BucketStats)
        assert detailed_stats.object_count == stats.object_count

    def test_upload_chunked(self, client, tmp_path):
        test_file = tmp_path / "large.bin"
        test_file.write_bytes(b"X" * (10 * 1024))
        progress_calls = []

        def progress_callback(chunk_num, total_chunks, bytes_sent, total_bytes):
            progress_calls.append((chunk_num, total_chunks, bytes_sent, total_bytes))

        result = client.upload_chunked(
            test_file,
            "s3://test-bucket/large.bin",
            chunk_size=3 * 1024,
            progress_callback=progress_callback,
        )
        assert result.original_size == 10 * 1024
        assert len(progress_calls) > 0

    def test_generate_presigned_url(self, client):
        url = client.generate_presigned_url(
            ClientMethod="get_object",
            Params={"Bucket": "test-bucket", "Key": "file.txt"},
            ExpiresIn=3600,
        )
        assert isinstance(url, str)
        assert "file.txt" in url
        assert "expires=3600" in url


assert TEST_BUCKET == "test-bucket"
