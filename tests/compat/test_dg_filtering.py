"""``TestSDKFiltering`` of DeltaGlider 6.2.0's tests/integration/test_filtering_and_cleanup.py,
on a real S3 server (see conftest): the keys its mocked listing returned are stored for real."""

from .sdk import create_client


def store(objects, keys):
    for key, size in keys:
        objects[f"test-bucket/{key}"] = {"size": size}


class TestSDKFiltering:
    def test_list_objects_filters_delta_suffix(self, objects):
        store(objects, [("releases/app-v1.zip.delta", 1000), ("releases/app-v2.zip.delta", 1500),
                        ("releases/README.md", 500)])
        client = create_client()
        response = client.list_objects(Bucket="test-bucket", Prefix="releases/")
        contents = response["Contents"]
        keys = [obj["Key"] for obj in contents]
        assert "releases/app-v1.zip" in keys
        assert "releases/app-v2.zip" in keys
        assert "releases/README.md" in keys
        for key in keys:
            assert not key.endswith(".delta"), f"Found .delta suffix in: {key}"
        delta_objects = [
            obj for obj in contents if obj.get("Metadata", {}).get("deltaglider-is-delta") == "true"
        ]
        assert len(delta_objects) == 2

    def test_list_objects_filters_reference_bin(self, objects):
        store(objects, [("releases/reference.bin", 50000), ("releases/1.0/reference.bin", 50000),
                        ("releases/app.zip.delta", 1000)])
        client = create_client()
        response = client.list_objects(Bucket="test-bucket", Prefix="releases/")
        contents = response["Contents"]
        keys = [obj["Key"] for obj in contents]
        for key in keys:
            assert not key.endswith("reference.bin"), f"Found reference.bin in: {key}"
        assert len(contents) == 1
        assert contents[0]["Key"] == "releases/app.zip"
        assert contents[0].get("Metadata", {}).get("deltaglider-is-delta") == "true"

    def test_list_objects_combined_filtering(self, objects):
        store(objects, [("data/reference.bin", 50000), ("data/file1.zip.delta", 1000),
                        ("data/file2.zip.delta", 1500), ("data/file3.txt", 500),
                        ("data/sub/reference.bin", 50000), ("data/sub/app.jar.delta", 2000)])
        client = create_client()
        response = client.list_objects(Bucket="test-bucket", Prefix="data/")
        contents = response["Contents"]
        assert len(contents) == 4
        keys = [obj["Key"] for obj in contents]
        expected_keys = ["data/file1.zip", "data/file2.zip", "data/file3.txt", "data/sub/app.jar"]
        assert sorted(keys) == sorted(expected_keys)
        for key in keys:
            assert not key.endswith(".delta")
            assert not key.endswith("reference.bin")
