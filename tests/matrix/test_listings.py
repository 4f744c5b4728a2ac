"""Listings on every server: exactly the keys boto3's paginator lists (none missing, none twice),
with and without a delimiter, over 1,000 and over 10,000 keys, split into ranges where the server
takes StartAfter."""

from __future__ import annotations

import json
import logging

from dgtui.cli import main
from dgtui.core.ranged import iter_ranged_pages

from .conftest import FLAT_KEYS, TREE_FILES, TREE_FOLDERS, TREE_KEYS, paginator_listing


def start_afters(client) -> list[str | None]:
    """Records the StartAfter of every ListObjectsV2 request the client sends from now on."""
    sent: list[str | None] = []

    def record(params, **_):
        sent.append(params.get("query_string", {}).get("start-after"))

    client.boto3_client.meta.events.register("before-call.s3.ListObjectsV2", record)
    return sent


def test_over_10000_keys_are_listed_in_ranges_exactly(backend, mclient, big_bucket, big_bucket_listing, caplog):
    sent = start_afters(mclient)
    with caplog.at_level(logging.DEBUG, logger="dgtui"):
        pages = list(iter_ranged_pages(mclient.boto3_client, big_bucket, "flat/"))
    keys = [o[0] for raw in pages for o in raw.objects]
    assert keys == big_bucket_listing == FLAT_KEYS
    # Split into ranges on every server of the matrix (each one keeps code-point order and takes StartAfter),
    # with split points that are valid XML 1.0 text.
    assert len([s for s in sent if s]) >= 5, sent
    assert all(ch not in "\ufffe\uffff" for s in sent if s for ch in s)
    assert not [r for r in caplog.records if r.name == "dgtui.ranged" and "plain way" in r.getMessage()], \
        "no fallback to a plain listing"


def test_the_sdk_lists_over_10000_keys_exactly(mclient, big_bucket, big_bucket_listing):
    listed = [o.key for o in mclient.iter_objects(big_bucket)]
    assert listed == big_bucket_listing and len(listed) == len(set(listed)) == 10_050


def test_cli_ls_recursive_json_over_10000_keys(capsys, backend_env, big_bucket, big_bucket_listing):
    code = main(["ls", "--recursive", "--json", f"s3://{big_bucket}/"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [json.loads(line)["key"] for line in out.splitlines()] == big_bucket_listing


def test_over_1000_files_and_folders_with_a_delimiter(backend, mclient, tree_bucket, backend_s3):
    keys, folders = paginator_listing(backend_s3, tree_bucket, "tree/", "/")
    assert keys == TREE_FILES and folders == TREE_FOLDERS
    for ranged in (True, False):
        pages = list(mclient.iter_pages(tree_bucket, "tree/", delimiter="/", ranged=ranged))
        assert [o.key for page in pages for o in page.contents] == keys, ranged
        assert [p for page in pages for p in page.common_prefixes] == folders, ranged
    # and without one, everything below
    flat = [o.key for page in mclient.iter_pages(tree_bucket, "tree/", delimiter=None, ranged=True)
            for o in page.contents]
    assert flat == paginator_listing(backend_s3, tree_bucket, "tree/")[0] == sorted(TREE_KEYS)


def test_cli_ls_of_a_folder_over_1000_entries(capsys, backend_env, tree_bucket):
    code = main(["ls", "--json", f"s3://{tree_bucket}/tree/"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(TREE_FILES) + len(TREE_FOLDERS)
    named = {row.get("key") or row.get("prefix") for row in rows}
    assert set(TREE_FILES) <= named and all(folder in named or folder.rstrip("/") in named
                                            for folder in TREE_FOLDERS), sorted(named)[:5]


def test_stats_by_folder_and_audit_over_10000_keys(capsys, backend_env, big_bucket):
    """The commands that stopped part-way on moto ("list failed ... 500") count every key."""
    assert main(["stats", "--json", f"s3://{big_bucket}"]) == 0
    assert json.loads(capsys.readouterr().out)["object_count"] == len(FLAT_KEYS)
    assert main(["stats", "--by-folder", "--json", f"s3://{big_bucket}"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(row["prefix"], row["objects"]) for row in rows] == [("flat/", len(FLAT_KEYS))]
    assert main(["audit", "--json", f"s3://{big_bucket}/"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["objects"] == summary["other_objects"] == len(FLAT_KEYS) and summary["deltas"] == 0
