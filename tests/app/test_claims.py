"""What the app says is what happened: numbers on screen are compared with counts made with boto3."""

from __future__ import annotations

import pytest

from dgtui.app.screens.browser import LocationBar
from dgtui.app.screens.confirm import ConfirmScreen
from dgtui.app.widgets.bucket_tree import BucketTree
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.app.widgets.transfers_panel import TransfersPanel
from dgtui.core.text import human_size
from dgtui.testing.proxy import TcpProxy

from .helpers import make_app, make_client, wait_for
from .test_transfers import answer_prompt, finished, open_at

pytestmark = pytest.mark.asyncio


def stored_keys(s3, bucket: str, prefix: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out


def files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def location_text(app) -> str:
    bar = app.screen.query_one(LocationBar)
    return " ".join(str(cell) for column in bar.render().columns for cell in column._cells)


async def test_missing_bucket_is_said_once_and_by_the_header(client, bucket):
    app = make_app(client, "s3://t-no-such-bucket-claims/some/prefix/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.message, what="the inline message")
        tree = app.screen.query_one(BucketTree)
        node = await wait_for(pilot, lambda: tree.node_for_bucket("t-no-such-bucket-claims"), what="its node")
        # the tree met the same error on the bucket's node: still one toast
        await wait_for(pilot, lambda: node.data.error, what="the error on the node")
        await wait_for(pilot, lambda: [n for n in app._notifications if "bucket not found" in n.message],
                       what="the toast")
        await pilot.pause(0.2)
        toasts = [n.message for n in app._notifications if "bucket not found" in n.message]
        assert len(toasts) == 1, toasts
        header = location_text(app)
        assert "this bucket does not exist" in header and "0 folders" not in header, header


async def test_cancelled_folder_restore_counts_and_lists_what_is_on_disk(s3_server, client, bucket, boto3_s3,
                                                                       tmp_path):
    for i in range(12):
        client.put_object(Bucket=bucket, Key=f"many/f{i:02d}.txt", Body=f"file {i}\n".encode() * 100)
    keys = sorted(stored_keys(boto3_s3, bucket, "many/"))
    out = tmp_path / "out"
    proxy = TcpProxy.for_endpoint(s3_server.endpoint_url, latency_s=0.3).start()
    slow = make_client(s3_server, tmp_path / "slow-cache", endpoint_url=proxy.endpoint_url)
    try:
        app = make_app(slow, f"s3://{bucket}/many/", download_dir=str(out))
        async with app.run_test(size=(120, 36)) as pilot:
            await open_at(pilot, app)
            await pilot.press("D")
            await answer_prompt(pilot, app)
            panel = app.screen.query_one(TransfersPanel)
            await wait_for(pilot, lambda: panel.transfers, what="the transfer")
            transfer = panel.transfers[-1]
            await wait_for(pilot, lambda: transfer.items_done >= 2, timeout=60, what="two files restored")
            panel.cancel(transfer)
            transfer, text = await finished(pilot, app, timeout=60)
            on_disk = files_under(out)
            assert transfer.state == "cancelled"
            assert 2 <= len(on_disk) < len(keys), on_disk
            size = human_size(sum((out / f).stat().st_size for f in on_disk))
            text = transfer.result
            assert f"cancelled: restored {len(on_disk)} of {len(keys)} files ({size})" in text, text
            assert f"{len(keys) - len(on_disk)} not restored" in text, text
            # Enter lists every file: the restored ones and the ones the cancel left.
            report = transfer.report
            assert sorted(line.split(": ")[0] for line in report if not line.startswith("NOT RESTORED")) == \
                [str(out / f) for f in on_disk], report
            assert sorted(line for line in report if line.startswith("NOT RESTORED")) == \
                [f"NOT RESTORED (cancelled) {k}" for k in keys if k[len("many/"):] not in on_disk]
            panel.focus()
            panel.action_show_report()
            dialog = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
            assert dialog.title_text.endswith(f": {len(keys)} lines")
    finally:
        slow.close()
        proxy.stop()


async def test_folder_restore_after_a_failure_lists_each_file(client, bucket, boto3_s3, tmp_path):
    from .helpers import release_bytes

    for version in range(3):
        client.put_object(Bucket=bucket, Key=f"rel/app-{version}.tar", Body=release_bytes(version))
    head = boto3_s3.head_object(Bucket=bucket, Key="rel/app-2.tar.delta")
    boto3_s3.put_object(Bucket=bucket, Key="rel/app-2.tar.delta", Body=b"not a delta" * 40, Metadata=head["Metadata"])
    out = tmp_path / "out"
    app = make_app(client, f"s3://{bucket}/rel/", download_dir=str(out))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("D")
        await answer_prompt(pilot, app)
        transfer, text = await finished(pilot, app, timeout=60)
        assert transfer.state == "failed"
        on_disk = files_under(out)
        assert on_disk == ["app-0.tar", "app-1.tar"]
        text = transfer.result
        assert text.startswith("restored 2 files (") and "1 failed: rel/app-2.tar: " in text, text
        assert transfer.report[:2] == [f"{out / 'app-0.tar'}: sha256 verified", f"{out / 'app-1.tar'}: sha256 verified"]
        assert transfer.report[2].startswith("FAILED rel/app-2.tar: ") and len(transfer.report) == 3


async def test_restore_dialogs_say_what_is_downloaded_and_written(s3_server, client, bucket, boto3_s3, tmp_path):
    from dgtui.app.screens.prompt import PromptScreen

    from .helpers import release_bytes, screen_of
    from .test_moves import dialog_text

    for version in range(3):
        client.put_object(Bucket=bucket, Key=f"rel/app-{version}.tar", Body=release_bytes(version))
    client.put_object(Bucket=bucket, Key="rel/notes.txt", Body=b"notes\n" * 30)
    stored = stored_keys(boto3_s3, bucket, "rel/")
    reference = stored["rel/reference.bin"]
    objects = sum(size for key, size in stored.items() if key != "rel/reference.bin")
    written = 3 * len(release_bytes(0)) + len(b"notes\n" * 30)
    # A new machine: nothing is cached, the reference is downloaded too.
    fresh = make_client(s3_server, tmp_path / "fresh-cache")
    try:
        app = make_app(fresh, f"s3://{bucket}/rel/", download_dir=str(tmp_path / "out"))
        async with app.run_test(size=(120, 36)) as pilot:
            table = await open_at(pilot, app)
            await pilot.press("D")
            prompt = await screen_of(pilot, PromptScreen, timeout=30)
            text = " ".join(dialog_text(prompt).split())
            assert (f"Downloads {human_size(objects + reference)} ({human_size(objects)} of objects, "
                    f"{human_size(reference)} for 1 reference not cached here); writes {human_size(written)}.") \
                in text, text
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, PromptScreen))
            # One delta: its own bytes and the reference.
            index = next(i for i, row in enumerate(table.view) if row.name == "app-1.tar")
            table.cursor_row = index
            await pilot.press("d")
            prompt = await screen_of(pilot, PromptScreen, timeout=30)
            text = " ".join(dialog_text(prompt).split())
            delta = stored["rel/app-1.tar.delta"]
            assert (f"Downloads {human_size(delta + reference)} ({human_size(delta)} of objects, "
                    f"{human_size(reference)} for 1 reference not cached here); "
                    f"writes {human_size(len(release_bytes(1)))}.") in text, text
            await answer_prompt(pilot, app)
            transfer, _ = await finished(pilot, app)
            assert transfer.state == "done"
            # Now the reference is cached here: only the deltas move.
            await pilot.press("D")
            prompt = await screen_of(pilot, PromptScreen, timeout=30)
            text = " ".join(dialog_text(prompt).split())
            assert (f"Downloads {human_size(objects)} (the references needed are cached here); "
                    f"writes {human_size(written)}.") in text, text
    finally:
        fresh.close()


async def test_exact_numbers_from_c_serve_the_savings_view_until_a_refresh(client, bucket):
    from dgtui.app.screens.savings import SavingsScreen
    from dgtui.app.widgets.stats_panel import StatsPanel

    from .helpers import count_heads, release_bytes, screen_of

    for version in range(3):
        client.put_object(Bucket=bucket, Key=f"rel/app-{version}.tar", Body=release_bytes(version))
    client.put_object(Bucket=bucket, Key="docs/readme.txt", Body=b"read me\n")
    heads = count_heads(client)
    app = make_app(client, f"s3://{bucket}/")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        stats = app.screen.query_one(StatsPanel)
        await pilot.press("c")
        await wait_for(pilot, lambda: stats.detailed is not None, timeout=60, what="exact stats")
        assert not stats.detailed.estimated
        before = len(heads)
        await pilot.press("s")
        savings = await screen_of(pilot, SavingsScreen)
        await wait_for(pilot, lambda: savings.report is not None and savings.running is None, timeout=60,
                       what="the savings report")
        assert savings.report.exact and not savings.report.total.is_estimate
        assert savings.report.total.original_bytes == stats.detailed.total_size
        assert len(heads) == before, "the metadata c read serves the view: no HEAD"
        title = str(savings.query_one("#savings-title").render())
        assert "exact" in title and "quick" not in title, title
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SavingsScreen))
        # A refresh may show changes: the numbers are quick again until asked for.
        await pilot.press("r")
        await open_at(pilot, app)
        await pilot.press("s")
        savings = await screen_of(pilot, SavingsScreen)
        await wait_for(pilot, lambda: savings.report is not None and savings.running is None, timeout=60,
                       what="the savings report")
        assert not savings.report.exact


async def test_preview_of_a_big_object_restores_it_with_d(client, bucket, tmp_path):
    from dgtui.app.screens.preview import PREVIEW_LIMIT, PreviewScreen
    from dgtui.app.screens.prompt import PromptScreen

    from .helpers import screen_of

    body = b"a long log line\n" * (PREVIEW_LIMIT // 8)
    client.put_object(Bucket=bucket, Key="logs/big.log", Body=body)
    out = tmp_path / "out"
    app = make_app(client, f"s3://{bucket}/logs/", download_dir=str(out))
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        assert table.current.name == "big.log"
        await pilot.press("p")
        preview = await screen_of(pilot, PreviewScreen)
        await wait_for(pilot, lambda: "d restores it" in str(preview.query_one("#preview-content").render()),
                       what="the too-big note")
        await pilot.press("d")
        await screen_of(pilot, PromptScreen, timeout=30)
        await answer_prompt(pilot, app)
        transfer, _ = await finished(pilot, app)
        assert transfer.state == "done", transfer.result
    assert (out / "big.log").read_bytes() == body


async def test_saved_column_has_one_precision_and_never_reads_100(client, bucket):
    import random
    import re

    def random_bytes_for(n: int, seed: int = 1) -> bytes:
        return random.Random(seed).randbytes(n)

    base = random_bytes_for(300_000)
    near = bytearray(base)
    near[150_000] ^= 0xFF
    far = bytearray(base)
    far[100_000:110_000] = random_bytes_for(10_000, seed=3)
    for name, data in (("a-0.tar", base), ("a-1.tar", bytes(near)), ("a-2.tar", bytes(far))):
        client.put_object(Bucket=bucket, Key=f"rel/{name}", Body=data)
    app = make_app(client, f"s3://{bucket}/rel/", metadata_in_view=True)  # the column fills from HEADs
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)

        def saved_cells() -> list[str]:
            lines = ["".join(s.text for s in table.render_line(y)) for y in range(1, 5)]
            cells = [m for line in lines if "a-" in line for m in re.findall(r"(\d+\.\d+)%", line)]
            return cells if len(cells) == 3 else []

        cells = await wait_for(pilot, saved_cells, what="the saved column filled")
        assert len({len(c.split(".")[1]) for c in cells}) == 1, cells
        assert all(float(c) < 100 for c in cells) and "100.0" not in " ".join(cells), cells
        assert any(len(c.split(".")[1]) > 1 for c in cells), "a 99.99x% saving needs more than one digit"


async def test_upload_summary_equals_what_the_bucket_holds(client, bucket, boto3_s3, tmp_path):
    from dgtui.core.text import percent

    from .helpers import release_bytes

    client.put_object(Bucket=bucket, Key="readme.txt", Body=b"hello\n")
    drop = tmp_path / "drop"
    drop.mkdir()
    for version in range(3):
        (drop / f"app-{version}.tar").write_bytes(release_bytes(version))
    app = make_app(client, f"s3://{bucket}/")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("u")
        await answer_prompt(pilot, app, str(drop))
        transfer, _ = await finished(pilot, app, timeout=60)
        assert transfer.state == "done", transfer.result
    held = sum(stored_keys(boto3_s3, bucket, "drop/").values())
    original = 3 * len(release_bytes(0))
    assert transfer.result.startswith(f"uploaded 3 files: {human_size(original)} → {human_size(held)} "
                                      f"({percent((1 - held / original) * 100)} saved"), (transfer.result, held)


async def test_costs_below_a_cent_are_not_compared(client, bucket):
    from dgtui.app.screens.savings import SavingsScreen

    from .helpers import release_bytes, screen_of

    for version in range(2):
        client.put_object(Bucket=bucket, Key=f"rel/app-{version}.tar", Body=release_bytes(version))
    app = make_app(client, f"s3://{bucket}/")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("s")
        savings = await screen_of(pilot, SavingsScreen)
        await wait_for(pilot, lambda: savings.report is not None and savings.running is None, timeout=60,
                       what="the savings report")
        await pilot.pause()
        detail = savings._cost_line(savings.report.total).plain + "\n" + \
            "\n".join(savings._row_line(row).plain for row in savings.report.rows)
        assert "Total:" in detail and "saved" in detail, detail
        assert "<$0.01" not in detail and "instead of" not in detail and "a month" not in detail, detail


async def test_demo_bookkeeping_bucket_is_hidden_without_the_demo(client, bucket, boto3_s3):
    from dgtui.core.config import DEMO_META_BUCKET

    names = [b["Name"] for b in boto3_s3.list_buckets()["Buckets"]]
    created = DEMO_META_BUCKET not in names
    if created:
        boto3_s3.create_bucket(Bucket=DEMO_META_BUCKET)
    try:
        app = make_app(client)  # plain `dgtui`, not `dgtui demo`
        async with app.run_test(size=(120, 36)) as pilot:
            tree = app.screen.query_one(BucketTree)
            await wait_for(pilot, lambda: tree.node_for_bucket(bucket), what="the buckets")
            assert tree.node_for_bucket(DEMO_META_BUCKET) is None
    finally:
        if created:
            boto3_s3.delete_bucket(Bucket=DEMO_META_BUCKET)


async def test_full_audit_says_what_it_read_and_rebuilt(client, bucket, boto3_s3):
    from dgtui.app.screens.audit import AuditScreen

    from .helpers import release_bytes, screen_of
    from .test_audit import status_text

    for version in range(3):
        client.put_object(Bucket=bucket, Key=f"rel/app-{version}.tar", Body=release_bytes(version))
    stored = stored_keys(boto3_s3, bucket, "rel/")
    rebuilt = sum(int(boto3_s3.head_object(Bucket=bucket, Key=k)["Metadata"]["dg-file-size"])
                  for k in stored if k.endswith(".delta"))
    app = make_app(client, f"s3://{bucket}/rel/")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("v")
        screen = await screen_of(pilot, AuditScreen)
        await wait_for(pilot, lambda: screen.summary is not None, what="the audit")
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.summary is not None and screen.summary.full, timeout=60,
                       what="the full audit")
        text = " ".join(status_text(screen).split())
        assert (f"3 deltas rebuilt and 0 other objects checked: {human_size(sum(stored.values()))} read from the "
                f"bucket, {human_size(rebuilt)} rebuilt") in text, text
