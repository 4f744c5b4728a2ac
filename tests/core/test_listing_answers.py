"""What a listing does with odd answers of 200, now that dgtui's own listings are parsed once.

S3 can answer 200 with an ``<Error>`` document, and a connection can cut a page
short. botocore turns both into a 500 and retries; dgtui's own listings skip
botocore's separate check of the body, so they must do the same.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dgtui.core.listing import fetch_page
from dgtui.core.s3 import S3Access

from ..scripted_http import QuietHandler, serving

PAGE = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Name>b</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false"
        b"</IsTruncated><Contents><Key>a%20file.txt</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
        b"<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1</Size><StorageClass>STANDARD"
        b"</StorageClass></Contents><EncodingType>url</EncodingType></ListBucketResult>")
ERROR_IN_200 = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>x</Message></Error>'


class _Answers(QuietHandler):
    #: bodies to answer 200 with, one per request (the last one repeats)
    bodies: list[bytes] = []
    served: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        body = self.bodies[min(len(self.served), len(self.bodies) - 1)]
        self.served.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def endpoint(s3_env) -> Iterator[str]:
    _Answers.served = []
    with serving(_Answers) as url:
        yield url


def access(endpoint: str) -> S3Access:
    return S3Access(endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1",
                    max_attempts=3)


@pytest.mark.parametrize("bad", [ERROR_IN_200, PAGE[:150]], ids=["error-in-200", "cut-short"])
def test_own_listing_retries_a_200_that_is_not_a_page(endpoint, bad):
    _Answers.bodies = [bad, PAGE]
    page = fetch_page(access(endpoint).client, "b")
    assert [o[0] for o in page.objects] == ["a file.txt"] and not page.is_truncated
    assert len(_Answers.served) == 2, "the bad answer was retried once"


def test_other_listings_keep_botocores_check(endpoint):
    _Answers.bodies = [ERROR_IN_200, PAGE]
    answer = access(endpoint).client.list_objects_v2(Bucket="b", EncodingType="url")
    assert [o["Key"] for o in answer["Contents"]] == ["a%20file.txt"]
    assert len(_Answers.served) == 2


def test_a_200_error_every_time_is_retried_as_botocore_retries_it(endpoint):
    _Answers.bodies = [ERROR_IN_200]
    with pytest.raises(Exception) as plain:
        access(endpoint).client.list_objects_v2(Bucket="b")
    botocore_requests, _Answers.served[:] = len(_Answers.served), []
    with pytest.raises(Exception) as own:
        fetch_page(access(endpoint).client, "b")
    assert botocore_requests > 1 and len(_Answers.served) == botocore_requests
    assert type(own.value) is type(plain.value) and "InternalError" in str(own.value)


def test_a_botocore_without_its_200_check_still_lists(endpoint, monkeypatch):
    # The one private botocore name the listing uses: when a release drops it, listings stay correct
    # (botocore's own check, wherever it now is, runs before ours; ours still parses the page).
    import botocore.handlers

    monkeypatch.delattr(botocore.handlers, "_handle_200_error")
    _Answers.bodies = [ERROR_IN_200, PAGE]
    page = fetch_page(access(endpoint).client, "b")
    assert [o[0] for o in page.objects] == ["a file.txt"] and len(_Answers.served) == 2
