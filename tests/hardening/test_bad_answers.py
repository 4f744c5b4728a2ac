"""One object the server describes badly (a date that is none, a negative size) is that object's
problem: the command goes on with the others and names it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from dgtui import create_client
from dgtui.cli import main

from ..rewriting_proxy import Rewriting as _Rewriting
from ..scripted_http import serving


@pytest.fixture
def bad_answers(s3_server, s3_env, bucket, tmp_path, monkeypatch) -> Iterator[str]:
    """``bucket`` with good objects and two described badly, read through the rewriting proxy."""
    writer = create_client(endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "writer-cache")
    for name, data in [("ok.txt", b"fine\n"), ("bad-date.txt", b"bad date\n"), ("neg.bin", b"negative\n"),
                       ("zz.txt", b"last\n")]:
        (tmp_path / name).write_bytes(data)
        writer.upload(str(tmp_path / name), f"s3://{bucket}/k/{name}")
    writer.close()
    _Rewriting.upstream = s3_server.endpoint_url.split("://", 1)[1]
    with serving(_Rewriting) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        yield bucket


def test_ls_marks_a_negative_size_and_lists_the_rest(bad_answers, capsys):
    bucket = bad_answers
    assert main(["ls", f"s3://{bucket}/k/"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.rsplit("  ", 1)[-1] for line in lines] == ["k/bad-date.txt", "k/neg.bin", "k/ok.txt", "k/zz.txt"]
    neg = next(line for line in lines if line.endswith("k/neg.bin"))
    assert "-77" not in neg and " - " in neg
    assert err == f"warning: s3://{bucket}/k/neg.bin: the listing gives no valid size (-77)\n"


def test_get_restores_the_rest_and_names_the_bad_object(bad_answers, capsys, tmp_path):
    bucket = bad_answers
    dest = tmp_path / "dest"
    code = main(["get", "-r", f"s3://{bucket}/k/", str(dest)])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "unexpected error" not in err and "Traceback" not in err
    assert "Last-Modified is not a date (garbage)" in err and "k/bad-date.txt" in err
    assert sorted(os.listdir(dest)) == ["neg.bin", "ok.txt", "zz.txt"]
    assert (dest / "neg.bin").read_bytes() == b"negative\n"

    code = main(["get", f"s3://{bucket}/k/bad-date.txt", str(tmp_path / "one.txt")])
    out, err = capsys.readouterr()
    assert code == 1 and not (tmp_path / "one.txt").exists()
    assert err == (f"dgtui: error: s3://{bucket}/k/bad-date.txt: the server's answer cannot be read: its "
                   f"Last-Modified is not a date (garbage); not restored\n")


def test_verify_checks_the_rest(bad_answers, capsys):
    bucket = bad_answers
    code = main(["verify", f"s3://{bucket}/k/"])
    out, err = capsys.readouterr()
    assert code == 3, out + err
    assert "unexpected error" not in err
    assert f"FAILED s3://{bucket}/k/bad-date.txt: " in err and "Last-Modified is not a date" in err
    assert out.count("OK s3://") == 3 and "3 of 4 objects OK" in out


def test_stats_counts_them_as_invalid_metadata(bad_answers, capsys):
    bucket = bad_answers
    assert main(["stats", "--detailed", f"s3://{bucket}/k/"]) == 0
    out, err = capsys.readouterr()
    assert "unexpected error" not in err
    assert re.search(r"metadata invalid: 2\n", out), out
    assert re.search(r"objects: 4 ", out), out


def test_audit_lists_them_and_goes_on(bad_answers, capsys):
    bucket = bad_answers
    code = main(["audit", f"s3://{bucket}/k/"])
    out, err = capsys.readouterr()
    assert code == 3, out + err
    assert "unexpected error" not in err
    assert f"invalid metadata: s3://{bucket}/k/neg.bin: the listing gives no valid size (-77)\n" in out
    assert "1 problem" in out and "1 problems" not in out and "4 stored objects" in out
    # --full reads every object's answer: the one with a date that is none too
    code = main(["audit", "--full", f"s3://{bucket}/k/"])
    out, err = capsys.readouterr()
    assert code == 3, out + err
    assert "unexpected error" not in err
    assert f"s3://{bucket}/k/neg.bin: the listing gives no valid size (-77)" in out
    assert (f"s3://{bucket}/k/bad-date.txt: the server's answer cannot be read: its Last-Modified is not a date "
            f"(garbage)") in out
    assert "2 problems" in out and "2 other objects checked" in out
