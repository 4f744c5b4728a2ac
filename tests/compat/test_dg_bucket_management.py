"""DeltaGlider 6.2.0's tests/integration/test_bucket_management.py, on a real S3 server (see conftest).

DeltaGlider built its client on a mocked service with a mocked boto3 client;
here the client is ``create_client()`` on the test server, buckets are real
(unique names, as the server is shared), and each ``assert_called_once_with``
is a check that the bucket or ACL really is as asked.
"""

import pytest

from .sdk import BucketStats, create_client


def bucket_names(s3):
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


class TestBucketManagement:
    """Test bucket creation, listing, and deletion."""

    def test_create_bucket_success(self, boto3_s3, unique):
        client = create_client()
        response = client.create_bucket(Bucket=unique)
        assert response["Location"] == f"/{unique}"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert unique in bucket_names(boto3_s3)

    def test_create_bucket_with_region(self, boto3_s3, unique):
        client = create_client()
        response = client.create_bucket(
            Bucket=unique,
            CreateBucketConfiguration={"LocationConstraint": "us-west-2"},
        )
        assert "Location" in response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert unique in bucket_names(boto3_s3)

    def test_create_bucket_already_exists(self, boto3_s3, unique):
        boto3_s3.create_bucket(Bucket=unique)
        client = create_client()
        response = client.create_bucket(Bucket=unique)
        assert response["Location"] == f"/{unique}"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200

    def test_list_buckets_success(self, boto3_s3, unique):
        for suffix in ("1", "2"):
            boto3_s3.create_bucket(Bucket=f"{unique}-bucket{suffix}")
        client = create_client()
        response = client.list_buckets()
        ours = [b for b in response["Buckets"] if b["Name"].startswith(unique)]
        assert len(ours) == 2
        assert ours[0]["Name"] == f"{unique}-bucket1"
        assert ours[1]["Name"] == f"{unique}-bucket2"
        assert "Owner" in response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200

    def test_list_buckets_empty(self, unique):
        client = create_client()
        response = client.list_buckets()
        assert [b for b in response["Buckets"] if b["Name"].startswith(unique)] == []
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200

    def test_list_buckets_includes_cached_stats(self, boto3_s3, unique):
        """Bucket list should merge cached stats when available."""
        bucket1, bucket2 = f"{unique}-bucket1", f"{unique}-bucket2"
        for name in (bucket1, bucket2):
            boto3_s3.create_bucket(Bucket=name)
        boto3_s3.put_object(Bucket=bucket1, Key="a.txt", Body=b"a" * 10)
        client = create_client()
        cached_stats = client.get_bucket_stats(bucket1, mode="detailed")

        response = client.list_buckets()

        b1 = next(bucket for bucket in response["Buckets"] if bucket["Name"] == bucket1)
        assert b1["DeltaGliderStats"]["Cached"] is True
        assert b1["DeltaGliderStats"]["Detailed"] is True
        assert b1["DeltaGliderStats"]["Mode"] == "detailed"
        assert b1["DeltaGliderStats"]["ObjectCount"] == cached_stats.object_count
        assert b1["DeltaGliderStats"]["TotalSize"] == cached_stats.total_size

        b2 = next(bucket for bucket in response["Buckets"] if bucket["Name"] == bucket2)
        assert "DeltaGliderStats" not in b2

    def test_delete_bucket_success(self, boto3_s3, unique):
        boto3_s3.create_bucket(Bucket=unique)
        client = create_client()
        response = client.delete_bucket(Bucket=unique)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert unique not in bucket_names(boto3_s3)

    def test_delete_bucket_not_found(self, unique):
        client = create_client()
        response = client.delete_bucket(Bucket=unique)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204

    def test_delete_bucket_not_empty_raises_error(self, boto3_s3, unique):
        boto3_s3.create_bucket(Bucket=unique)
        boto3_s3.put_object(Bucket=unique, Key="x.txt", Body=b"x")
        client = create_client()
        with pytest.raises(RuntimeError, match="Failed to delete bucket"):
            client.delete_bucket(Bucket=unique)

    def test_get_bucket_stats_caches_per_session(self, boto3_s3, unique):
        """Stats of one session: quick twice agrees, detailed counts the same objects."""
        boto3_s3.create_bucket(Bucket=unique)
        for i in range(5):
            boto3_s3.put_object(Bucket=unique, Key=f"f{i}.txt", Body=b"x" * 100)
        client = create_client()
        result_quick = client.get_bucket_stats(unique)
        assert isinstance(result_quick, BucketStats)
        assert client.get_bucket_stats(unique) == result_quick
        result_detailed = client.get_bucket_stats(unique, mode="detailed")
        assert result_detailed.object_count == result_quick.object_count == 5
        assert client.get_bucket_stats(unique) == result_quick

    def test_put_bucket_acl_with_canned_acl(self, boto3_s3, unique):
        boto3_s3.create_bucket(Bucket=unique)
        client = create_client()
        response = client.put_bucket_acl(Bucket=unique, ACL="public-read")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        grants = boto3_s3.get_bucket_acl(Bucket=unique)["Grants"]
        assert any(g["Permission"] == "READ" and g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)

    def test_put_bucket_acl_with_grants(self, moto, unique):
        """On moto's server: SeaweedFS keeps no per-grantee grants."""
        import boto3

        raw = boto3.client("s3", **moto)
        raw.create_bucket(Bucket=unique)
        client = create_client(**moto)
        response = client.put_bucket_acl(Bucket=unique, GrantRead="id=12345", GrantWrite="id=67890")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        grants = {(g["Grantee"].get("ID"), g["Permission"]) for g in raw.get_bucket_acl(Bucket=unique)["Grants"]}
        assert {("12345", "READ"), ("67890", "WRITE")} <= grants

    def test_put_bucket_acl_with_access_control_policy(self, boto3_s3, unique):
        boto3_s3.create_bucket(Bucket=unique)
        owner = boto3_s3.get_bucket_acl(Bucket=unique)["Owner"]["ID"]
        policy = {
            "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner}, "Permission": "FULL_CONTROL"}],
            "Owner": {"ID": owner},
        }
        client = create_client()
        response = client.put_bucket_acl(Bucket=unique, AccessControlPolicy=policy)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        grants = boto3_s3.get_bucket_acl(Bucket=unique)["Grants"]
        assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]

    def test_put_bucket_acl_failure(self, unique):
        """A refused ACL (here: on a bucket that does not exist) raises RuntimeError."""
        client = create_client()
        with pytest.raises(RuntimeError, match="Failed to set bucket ACL"):
            client.put_bucket_acl(Bucket=unique, ACL="public-read")

    def test_get_bucket_acl_success(self, boto3_s3, unique):
        boto3_s3.create_bucket(Bucket=unique)
        client = create_client()
        response = client.get_bucket_acl(Bucket=unique)
        assert response["Owner"]["ID"]
        assert len(response["Grants"]) == 1
        assert response["Grants"][0]["Permission"] == "FULL_CONTROL"

    def test_get_bucket_acl_failure(self, unique):
        client = create_client()
        with pytest.raises(RuntimeError, match="Failed to get bucket ACL"):
            client.get_bucket_acl(Bucket=unique)

    def test_complete_bucket_lifecycle(self, unique):
        client = create_client()
        create_response = client.create_bucket(Bucket=unique)
        assert create_response["ResponseMetadata"]["HTTPStatusCode"] == 200
        list_response = client.list_buckets()
        bucket_names_ = [b["Name"] for b in list_response["Buckets"]]
        assert unique in bucket_names_
        delete_response = client.delete_bucket(Bucket=unique)
        assert delete_response["ResponseMetadata"]["HTTPStatusCode"] == 204
