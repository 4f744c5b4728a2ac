"""Credentials: missing, wrong, expired; and never shown, not even with --debug."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from dgtui import CredentialsError, create_client
from dgtui.cli import main
from dgtui.core.s3 import translate

from .conftest import assert_one_line_error, cli_env, make_client, run_cli

CHECK_HINT = "AWS_ACCESS_KEY_ID"


def isolated_env(s3_server, tmp_path, **creds: str) -> dict[str, str]:
    """An environment with no credentials anywhere except those given."""
    return cli_env({
        "AWS_ENDPOINT_URL": s3_server.endpoint_url, "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true", "DGTUI_CACHE_DIR": str(tmp_path / "cache"),
        **creds,
    })


@pytest.fixture
def no_credentials(s3_server, tmp_path, monkeypatch):
    for name, value in isolated_env(s3_server, tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def test_no_credentials_sdk(no_credentials, s3_server, bucket, tmp_path):
    c = create_client(endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "c")
    for call in (lambda: c.list_buckets(), lambda: c.list_objects(Bucket=bucket),
                 lambda: c.download(f"s3://{bucket}/x.txt", tmp_path / "x.txt"),
                 lambda: c.get_bucket_stats(bucket)):
        with pytest.raises(CredentialsError) as info:
            call()
        assert CHECK_HINT in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "x.txt").exists()


@pytest.mark.parametrize("creds, says", [
    ({}, "no usable AWS credentials"),
    ({"AWS_ACCESS_KEY_ID": "only-the-key-id"}, "no usable AWS credentials"),
    ({"AWS_ACCESS_KEY_ID": "unknown-key-id", "AWS_SECRET_ACCESS_KEY": "whatever-secret"}, "access key is not known"),
    ({"AWS_ACCESS_KEY_ID": "dgtui-local", "AWS_SECRET_ACCESS_KEY": "wrong-secret-value"}, "secret key does not match"),
    # SeaweedFS answers an unknown/expired session token as an unknown key.
    ({"AWS_ACCESS_KEY_ID": "dgtui-local", "AWS_SECRET_ACCESS_KEY": "dgtui-local-secret",
      "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEXPIREDTOKEN"}, "AWS_SESSION_TOKEN"),
], ids=["none", "partial", "wrong-key", "wrong-secret", "session-token"])
def test_bad_credentials_cli_one_line(no_credentials, monkeypatch, capsys, bucket, tmp_path, creds, says):
    for name, value in creds.items():
        monkeypatch.setenv(name, value)
    commands = [["ls", f"s3://{bucket}/"], ["get", f"s3://{bucket}/a.txt", str(tmp_path / "a.txt")]]
    if not creds:
        commands += [["ls"], ["stats", f"s3://{bucket}"], ["put", __file__, f"s3://{bucket}/"]]
    for argv in commands:
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 1 and out == "", (argv, out)
        assert err.startswith("dgtui: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        assert says in err and CHECK_HINT in err, (argv, err)
        for secret in creds.values():
            assert secret not in err
    assert not (tmp_path / "a.txt").exists()


def test_bad_credentials_cli_process(s3_server, bucket, tmp_path):
    env = isolated_env(s3_server, tmp_path, AWS_ACCESS_KEY_ID="unknown-key-id", AWS_SECRET_ACCESS_KEY="x-secret")
    assert_one_line_error(run_cli("ls", f"s3://{bucket}/", env=env), "access key is not known", CHECK_HINT)
    assert_one_line_error(run_cli("ls", f"s3://{bucket}/", env=isolated_env(s3_server, tmp_path)),
                          "no usable AWS credentials", CHECK_HINT)


def test_expired_token_message():
    # SeaweedFS cannot issue expiring tokens; this is the exact error AWS returns.
    exc = ClientError({"Error": {"Code": "ExpiredToken", "Message": "The provided token has expired."},
                       "ResponseMetadata": {"HTTPStatusCode": 400}}, "ListObjectsV2")
    err = translate(exc, bucket="b", endpoint="https://s3.amazonaws.com")
    assert isinstance(err, CredentialsError)
    assert "session token has expired" in str(err) and "AWS_SESSION_TOKEN" in str(err)


def test_wrong_secret_sdk_names_what_to_check(s3_server, s3_env, bucket, tmp_path):
    c = make_client(s3_server.endpoint_url, s3_server.access_key, "not-the-secret", tmp_path / "c")
    with pytest.raises(CredentialsError) as info:
        c.list_objects(Bucket=bucket)
    assert "secret key does not match" in str(info.value) and "not-the-secret" not in str(info.value)


def test_debug_output_never_shows_credentials(s3_server, bucket, tmp_path, boto3_s3):
    boto3_s3.put_object(Bucket=bucket, Key="d/a.txt", Body=b"a")
    secret, key_id, token = s3_server.secret_key, s3_server.access_key, "FwoGZXIvYXdzSECRETTOKEN1234"
    (tmp_path / "up.txt").write_text("up")
    runs = []
    env = isolated_env(s3_server, tmp_path, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret)
    runs.append(run_cli("ls", "--debug", f"s3://{bucket}/d/", env=env))
    runs.append(run_cli("put", "--debug", str(tmp_path / "up.txt"), f"s3://{bucket}/d/", env=env))
    runs.append(run_cli("get", "--debug", f"s3://{bucket}/d/a.txt", str(tmp_path / "a.txt"), env=env))
    # Credentials from a profile in a file: the environment holds none of them.
    creds_file = tmp_path / "credentials"
    creds_file.write_text(f"[backup]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")
    env = isolated_env(s3_server, tmp_path, AWS_SHARED_CREDENTIALS_FILE=str(creds_file), AWS_PROFILE="backup")
    runs.append(run_cli("ls", "--debug", f"s3://{bucket}/d/", env=env))
    runs.append(run_cli("stats", "--debug", "--detailed", f"s3://{bucket}", env=env))
    # A profile with a session token (SeaweedFS refuses it, but the request is logged first).
    creds_file.write_text(f"[temporary]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
                          f"aws_session_token = {token}\n")
    env = isolated_env(s3_server, tmp_path, AWS_SHARED_CREDENTIALS_FILE=str(creds_file), AWS_PROFILE="temporary")
    runs.append(run_cli("ls", "--debug", f"s3://{bucket}/d/", env=env))
    # Failures: a wrong secret and a session token.
    env = isolated_env(s3_server, tmp_path, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY="wrong-" + secret,
                       AWS_SESSION_TOKEN=token)
    runs.append(run_cli("ls", "--debug", f"s3://{bucket}/d/", env=env))
    for proc in runs[:5]:
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert runs[5].returncode == runs[6].returncode == 1
    assert b"X-Amz-Security-Token" in runs[5].stderr  # the token's header was logged, redacted
    for proc in runs:
        out = proc.stdout + proc.stderr
        assert b"DEBUG" in proc.stderr  # the debug log did run
        for value in (secret, key_id, token):
            assert value.encode() not in out, (value, out[-3000:])
