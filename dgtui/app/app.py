"""The dgtui terminal browser.

``run_app`` is what the ``dgtui`` command calls; ``DgtuiApp`` takes a client
factory so that tests (and the demo) can point it at any server.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from dgtui import CancelledError, DgClient, ObjectInfo, create_client, parse_s3_url

from .audit_state import AuditFindings
from .errors import describe, is_connection_problem
from .messages import BucketsLoaded, Location, ObjectInfoLoaded, TransferQuestion, WorkFailed
from .screens.audit import AuditScreen
from .screens.browser import BrowserScreen
from .screens.confirm import ConfirmScreen
from .screens.connection_error import ConnectionErrorScreen
from .screens.details import DetailsScreen
from .screens.help import HelpScreen
from .screens.savings import SavingsScreen
from .text import format_local_time, printable
from .widgets.bucket_tree import BucketTree
from .widgets.object_table import ObjectTable
from .widgets.transfers import TransfersPanel
from .workers import background

ClientFactory = Callable[[], DgClient]


class DgtuiApp(App[int]):
    """Browse, restore and upload DeltaGlider-compressed S3 buckets."""

    CSS_PATH = "app.tcss"
    TITLE = "dgtui"

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Keys"),
    ]

    def __init__(self, client_factory: ClientFactory, start_url: str | None = None, *,
                 time_format: Callable[[str], str] = format_local_time,
                 clock: Callable[[], float] = time.monotonic,
                 download_dir: str | None = None, endpoint_label: str | None = None,
                 hide_buckets: tuple[str, ...] = ()) -> None:
        """``time_format`` turns S3 timestamps into text and ``clock`` drives transfer rates;
        tests replace both to get the same picture on every run."""
        super().__init__()
        self.client_factory = client_factory
        self.start_url = start_url
        self.time_format = time_format
        self.clock = clock
        self.client: DgClient | None = None
        self.endpoint_label = endpoint_label
        #: buckets not shown in the tree (the demo's own bookkeeping)
        self.hide_buckets = set(hide_buckets)
        #: a bucket just created: open it once the bucket list is back
        self.open_bucket: str | None = None
        cwd = os.getcwd()
        self.download_dir = download_dir or cwd
        self.upload_dir = (download_dir or cwd).rstrip(os.sep) + os.sep
        #: metadata fetched by the details screen, per (bucket, key), for this session
        self.info_cache: dict[tuple[str, str], ObjectInfo] = {}
        #: what audits of this session found, for marking damaged rows
        self.audit_findings = AuditFindings()
        self.start_location: Location | None = None
        self._start_problem: str | None = None
        self._start_object: str | None = None
        if start_url:
            try:
                bucket, key = parse_s3_url(start_url)
            except Exception as exc:  # noqa: BLE001 - shown once the screen is up
                self._start_problem = describe(exc)
            else:
                # "s3://bucket/backups" means the folder; if no such folder holds anything,
                # the browser opens the folder around it with the cursor on the object.
                prefix = key if not key or key.endswith("/") else key + "/"
                self.start_location = Location(bucket, prefix)
                self._start_object = key if key and not key.endswith("/") else None
        self._connection_screen: ConnectionErrorScreen | None = None

    # -- start -------------------------------------------------------------------------
    @property
    def browser(self) -> BrowserScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, BrowserScreen):
                return screen
        return None

    def on_mount(self) -> None:
        self.push_screen(BrowserScreen(self.start_location, start_object=self._start_object))
        if self._start_problem:
            self.show_error(self._start_problem)
        self.load_buckets()

    def load_buckets(self) -> None:
        self._connect()

    @background("connecting", group="connect", exclusive=True)
    def _connect(self) -> None:
        if self.client is None:
            client = self.client_factory()
            self.call_from_thread(self._client_ready, client)
        assert self.client is not None  # set by _client_ready
        buckets = self.client.list_buckets()["Buckets"]
        self.post_message(BucketsLoaded(buckets))

    def _client_ready(self, client: DgClient) -> None:
        self.client = client
        browser = self.browser
        if browser is not None:
            browser.client_ready()

    def on_buckets_loaded(self, message: BucketsLoaded) -> None:
        browser = self.browser
        if browser is not None:
            browser.set_buckets(sorted(b["Name"] for b in message.buckets if b["Name"] not in self.hide_buckets))
            if self.open_bucket is not None:
                browser.open_bucket(self.open_bucket)
                self.open_bucket = None

    @property
    def endpoint(self) -> str | None:
        if self.endpoint_label:
            return self.endpoint_label
        if self.client is not None:
            return self.client.endpoint_url
        return os.environ.get("AWS_ENDPOINT_URL")

    # -- the one error path ------------------------------------------------------------------
    def on_work_failed(self, message: WorkFailed) -> None:
        """Every background job's failure ends here: one line, never a traceback."""
        error = message.error
        text = describe(error)
        source = message.source
        inline = getattr(source, "show_inline_error", None)
        if callable(inline):
            try:
                inline(text, error, message.context)
            except Exception:  # noqa: BLE001 - the widget may be gone; the notification still shows
                pass
        if isinstance(error, CancelledError):
            if not callable(inline):  # widgets with an inline place already say "cancelled"
                self.notify(f"{message.what}: cancelled", timeout=3)
            return
        if is_connection_problem(error):
            self.show_connection_problem(text, error)
            return
        if message.what == "connecting" and self.start_location is not None:
            # ListBuckets refused, but the user named a bucket: browse that one.
            browser = self.browser
            if browser is not None:
                browser.set_buckets([])
            self.show_error(f"cannot list buckets ({text}); showing s3://{printable(self.start_location.bucket)}")
            return
        if message.what == "connecting":
            self.show_connection_problem(text, error)
            return
        if isinstance(source, (BucketTree, ObjectTable)) or "failed" in text.lower():
            self.show_error(text)  # the text already says what failed
        else:
            self.show_error(f"{message.what} failed: {text}")

    def show_error(self, text: str) -> None:
        self.notify(text, title="Error", severity="error", timeout=8, markup=False)

    def show_connection_problem(self, text: str, error: BaseException | None) -> None:
        browser = self.browser
        if browser is not None:
            browser.show_connection_problem("not connected (r retries)")
        if self._connection_screen is not None:
            return
        self.client = None  # a new client picks up fixed environment / profile on retry
        screen = ConnectionErrorScreen(text, error, self.endpoint)
        self._connection_screen = screen

        def closed(retry: bool | None) -> None:
            self._connection_screen = None
            if retry:
                browser = self.browser
                if browser is not None:
                    browser.tree.set_status("connecting…")
                    if browser.location is not None:
                        browser.table.reload()
                self.load_buckets()

        self.push_screen(screen, closed)

    def on_object_info_loaded(self, message: ObjectInfoLoaded) -> None:
        browser = self.browser
        if browser is not None:
            browser.object_info_loaded(message.bucket, message.info)

    # -- questions from transfers ---------------------------------------------------------------
    def on_transfer_question(self, message: TransferQuestion) -> None:
        question = message.question
        transfer = message.transfer
        self.push_screen(ConfirmScreen(question.title, question.body, question.choices, danger=question.danger),
                         lambda answer: transfer.answer(answer))

    # -- shared actions ------------------------------------------------------------------------
    def copy_sha256(self, info: ObjectInfo) -> None:
        if not info.file_sha256:
            self.notify(f"{printable(info.key, 200)} has no sha256 stored (written by another tool).", timeout=4)
            return
        self.copy_to_clipboard(info.file_sha256)
        self.notify(f"Copied {info.file_sha256}", title="sha256", timeout=4, markup=False)

    def copy_url(self, url: str) -> None:
        self.copy_to_clipboard(url)
        self.notify(f"Copied {printable(url, 300)}", title="URL", timeout=4, markup=False)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        sections: list[tuple[str, list[Any]]] = [
            ("Everywhere", list(self.BINDINGS) + [Binding("ctrl+p", "command_palette", "Command palette"),
                                                   Binding("tab", "focus_next", "Next pane")]),
            ("Browser", list(BrowserScreen.BINDINGS)),
            ("Object table", list(ObjectTable.BINDINGS)),
            ("Bucket tree", [Binding("enter", "select", "Open in the table (the focus goes there; a click opens "
                                                       "it and stays in the tree)"),
                             Binding("right", "expand", "Expand"),
                             Binding("left", "collapse", "Collapse or go to parent")]),
            ("Transfers (Tab to them)", list(TransfersPanel.BINDINGS)),
            ("Details", list(DetailsScreen.BINDINGS)),
            ("Audit results", list(AuditScreen.BINDINGS) + [Binding("enter", "select", "Open the object")]),
            ("Savings by folder (s)", list(SavingsScreen.BINDINGS)),
        ]
        self.push_screen(HelpScreen(sections))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        browser = self.browser
        if browser is None:
            return
        for title, help_text, action in BROWSER_COMMANDS:
            yield SystemCommand(title, help_text, _runner(browser, action))
        yield SystemCommand("Help", "Every key of every screen (?)", self.action_help)

    def notify(self, message: str, *, title: str = "", severity: str = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications often quote keys and paths: never read them as markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)  # type: ignore[arg-type]

    async def action_quit(self) -> None:
        browser = self.browser
        active = browser.transfers.active if browser is not None else []
        if not active or isinstance(self.screen, QuitConfirmScreen):
            # Asked twice (q, ctrl+c again): the user means it.
            for transfer in active:
                transfer.cancel()
            self.exit(0)
            return
        names = ", ".join(t.title for t in active[:3]) + (", …" if len(active) > 3 else "")
        them = "them" if len(active) != 1 else "it"
        body = (f"{len(active)} transfer{'s are' if len(active) != 1 else ' is'} still running ({names}). "
                f"Quitting cancels {them}; a cancelled restore leaves no partial file.")

        def answered(answer: str | None) -> None:
            if answer == "quit":
                for transfer in active:
                    transfer.cancel()
                self.exit(0)

        self.push_screen(QuitConfirmScreen("Quit dgtui?", body, [("quit", f"Cancel {them} and quit"),
                                                                 ("stay", "Keep them running")], danger=True),
                         answered)


class QuitConfirmScreen(ConfirmScreen):
    """"Quit while transfers run?" (a second quit key press quits)."""


BROWSER_COMMANDS = [
    ("Restore", "Restore the marked or highlighted objects (or folder) to a local folder (d)", "download"),
    ("Restore folder", "Restore everything under the current folder (D)", "download_folder"),
    ("Upload", "Upload a local file or folder into the current folder (u)", "upload"),
    ("Details", "Compression details of the highlighted object (i)", "details"),
    ("Delete", "Delete the marked or highlighted objects, or the highlighted folder (Delete)", "delete"),
    ("Exact stats", "Compute exact sizes and savings of the current folder (c)", "detailed_stats"),
    ("Audit", "Check that everything under the highlighted or current folder can be restored (v)", "audit"),
    ("Savings by folder", "Stored and original size, savings and a grade per folder below this one (s)", "savings"),
    ("Refresh", "List the current folder again (r)", "refresh"),
    ("Copy URL", "Copy the s3:// URL of the highlighted object (y)", "copy_url"),
    ("Copy sha256", "Copy the sha256 of the highlighted object (Y)", "copy_sha256"),
    ("Preview", "Show the start of a text object, rebuilt and checked first (p)", "preview"),
    ("Sort by name", "Sort the table by name; again: reverse (n)", "sort('name')"),
    ("Sort by stored size", "Sort by the stored size; again: reverse (S)", "sort('size')"),
    ("Sort by original size", "Sort by the original size (o)", "sort('original')"),
    ("Sort by saved", "Sort by the share saved (%)", "sort('saved')"),
    ("Sort by date", "Sort by modification time (t)", "sort('date')"),
    ("New bucket", "Create a bucket (b)", "create_bucket"),
    ("Filter", "Filter names in the current folder (/)", "focus_filter"),
]


def _runner(screen: Screen, action: str) -> Callable[[], Any]:
    async def run() -> None:
        await screen.run_action(action)

    return run


def run_app(endpoint_url: str | None = None, profile: str | None = None, region: str | None = None,
            start_url: str | None = None, env: dict[str, str] | None = None,
            hide_buckets: tuple[str, ...] = (), addressing_style: str | None = None) -> int:
    """Run the browser in this terminal; returns the exit status."""
    if env:
        os.environ.update(env)

    def factory() -> DgClient:
        return create_client(endpoint_url=endpoint_url, profile=profile, region_name=region,
                             addressing_style=addressing_style)

    app = DgtuiApp(factory, start_url=start_url, endpoint_label=endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
                   hide_buckets=hide_buckets)
    result = app.run()
    if app.client is not None:
        app.client.close()
    return result if isinstance(result, int) else 0
