"""The dgtui terminal browser.

``run_app`` is what the ``dgtui`` command calls; ``DgtuiApp`` takes a client
factory so that tests (and the demo) can point it at any server.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Callable, Iterable

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Input

from dgtui import CancelledError, DgClient, DgError, ObjectInfo, create_client, parse_s3_url
from dgtui.core.config import config_path, load_keymap, load_settings
from dgtui.core.errors import ConnectionFailedError
from dgtui.core.logs import redact_url

from ..core.config import HIDDEN_BUCKETS
from ..core.text import format_local_time, printable
from .audit_state import AuditFindings
from .errors import describe, is_connection_problem
from .messages import BucketsLoaded, Location, ObjectInfoLoaded, TransferQuestion, WorkFailed
from .screens.audit import AuditScreen
from .screens.browser import BrowserScreen
from .screens.confirm import ConfirmScreen
from .screens.connection_error import ConnectionErrorScreen
from .screens.details import DetailsScreen
from .screens.help import HelpScreen
from .screens.preview import PreviewScreen
from .screens.prompt import PromptScreen
from .screens.savings import SavingsScreen
from .screens.versions import VersionsScreen
from .widgets.bucket_tree import BucketTree
from .widgets.object_table import ObjectTable
from .widgets.transfers_panel import TransfersPanel
from .workers import background

ClientFactory = Callable[[], DgClient]
#: the worker group of the job that creates the client and lists the buckets
CONNECT_GROUP = "connect"


class DgtuiApp(App[int]):
    """Browse, restore and upload DeltaGlider-compressed S3 buckets."""

    CSS_PATH = "app.tcss"
    TITLE = "dgtui"

    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Keys", id="app.help"),
    ]

    def __init__(self, client_factory: ClientFactory, start_url: str | None = None, *,
                 time_format: Callable[[str], str] = format_local_time,
                 clock: Callable[[], float] = time.monotonic,
                 download_dir: str | None = None, endpoint_label: str | None = None,
                 hide_buckets: tuple[str, ...] = (), metadata_in_view: bool | None = None) -> None:
        """``time_format`` turns S3 timestamps into text and ``clock`` drives transfer rates;
        tests replace both to get the same picture on every run. ``metadata_in_view`` (default:
        the settings file's, else off) makes the table HEAD the rows in view; ``m`` toggles it."""
        super().__init__()
        self._settings_problem: str | None = None
        if metadata_in_view is None:
            try:
                metadata_in_view = load_settings().metadata_in_view
            except DgError as exc:
                metadata_in_view = False
                self._settings_problem = describe(exc)
        #: the table reads the metadata of the rows in view (HEADs); off, it shows the cache's only
        self.metadata_in_view = metadata_in_view
        self.client_factory = client_factory
        self.start_url = start_url
        self.time_format = time_format
        self.clock = clock
        self.client: DgClient | None = None
        self.endpoint_label = endpoint_label
        #: buckets not shown in the tree (the demo's own bookkeeping)
        self.hide_buckets = set(hide_buckets) | HIDDEN_BUCKETS
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
        #: Retry on the connection screen: list the open folder again once the new client exists
        self._reload_when_connected = False

    # -- keys, in the order they arrive ----------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded \
                and self.screen.maximized is None and await self._handle_in_order(event):
            return
        await super().on_event(event)

    async def _handle_in_order(self, event: events.Key | events.Paste) -> bool:
        """Act on a key (or paste) completely before the next one is looked at.

        Textual hands a key to the focused widget's queue and checks the bindings only when the key
        comes back unhandled, after the keys that arrived with it were handed on: keys that arrive in
        one read (over SSH, a paste) were reordered (``07``, Backspace and ``1`` became ``07``) or went
        to a widget that had just lost the focus. Here the bindings of the focused widget and its
        parents run at once, and text for a focused input goes in at once; only keys nothing binds are
        handed on as before. Returns whether the event was handled.
        """
        if not self.app_focus:
            self.app_focus = True
        focused = self.focused
        if isinstance(event, events.Paste):
            if isinstance(focused, Input):
                focused._on_paste(event)
                return True
            return False
        if focused is not None:
            self.screen._clear_tooltip()
        if await self._check_bindings(event.key, priority=True):
            return True
        if isinstance(focused, Input) and focused.check_consume_key(event.key, event.character):
            await focused._on_key(event)
            return True
        return await self._check_bindings(event.key)

    # -- start -------------------------------------------------------------------------
    @property
    def browser(self) -> BrowserScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, BrowserScreen):
                return screen
        return None

    def on_mount(self) -> None:
        self.load_keymap()
        self.push_screen(BrowserScreen(self.start_location, start_object=self._start_object))
        if self._start_problem:
            self.show_error(self._start_problem)
        if self._settings_problem:
            self.show_error(self._settings_problem)
        self.load_buckets()

    def load_keymap(self) -> None:
        """Remap keys from the ``[keymap]`` table of the settings file; say in one line what is wrong with it."""
        try:
            keymap = load_keymap()
        except DgError as exc:
            self.notify(f"{exc}; keys are the defaults", severity="warning", timeout=10)
            return
        known = {binding.id for owner in KEYMAP_OWNERS for _key, binding in (owner._merged_bindings or [])
                 if binding.id}
        unknown = sorted(set(keymap) - known)
        if unknown:
            self.notify(f"[keymap] in {config_path()}: no key binding is called {', '.join(unknown)} "
                        f"(? lists the ids); the other entries apply", severity="warning", timeout=10)
        self.set_keymap({binding_id: keys for binding_id, keys in keymap.items() if binding_id in known})

    def load_buckets(self) -> None:
        self._connect()

    @background("connecting", group=CONNECT_GROUP, exclusive=True)
    def _connect(self) -> None:
        if self.client is None:
            client = self.client_factory()
            self.call_from_thread(self._client_ready, client)
        assert self.client is not None  # set by _client_ready
        buckets = self.client.list_buckets()["Buckets"]
        self.post_message(BucketsLoaded(buckets))

    @property
    def live_client(self) -> DgClient:
        """The client, for workers. While there is none (the connection was lost and Retry has not made a
        new one yet) a worker ends as a connection problem, which the connection screen already shows."""
        client = self.client
        if client is None:
            raise ConnectionFailedError("not connected (r retries)")
        return client

    def _client_ready(self, client: DgClient) -> None:
        self.client = client
        browser = self.browser
        if browser is not None:
            browser.client_ready()
            if self._reload_when_connected and browser.location is not None:
                browser.table.reload()
        self._reload_when_connected = False

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
            return redact_url(self.endpoint_label)
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
        connecting = message.group == CONNECT_GROUP
        if connecting and self.start_location is not None:
            # ListBuckets refused, but the user named a bucket: browse that one.
            browser = self.browser
            if browser is not None:
                browser.set_buckets([])
            self.show_error(f"cannot list buckets ({text}); showing s3://{printable(self.start_location.bucket)}")
            return
        if connecting:
            self.show_connection_problem(text, error)
            return
        if isinstance(source, (BucketTree, ObjectTable)) or getattr(error, "action", None):
            self.show_error(text)  # the text already says what failed (the pane, or the error's action)
        else:
            self.show_error(f"{message.what} failed: {text}")

    def show_error(self, text: str) -> None:
        if any(n.message == text for n in self._notifications):
            return  # the tree and the table may hit the same error (a missing bucket): one toast says it
        self.notify(text, title="Error", severity="error", timeout=8, markup=False)

    def show_connection_problem(self, text: str, error: BaseException | None) -> None:
        browser = self.browser
        if browser is not None:
            browser.show_connection_problem("not connected (r retries)")
        if self._connection_screen is not None:
            return
        # A new client picks up a fixed environment / profile on retry. The old one is closed (its
        # HEAD pool, event loop thread and connections) off the UI thread; workers still holding it
        # fail or finish on their own.
        old_client, self.client = self.client, None
        if old_client is not None:
            self._close_client(old_client)
        screen = ConnectionErrorScreen(text, error, self.endpoint)
        self._connection_screen = screen

        def closed(retry: bool | None) -> None:
            self._connection_screen = None
            if retry:
                browser = self.browser
                if browser is not None:
                    browser.tree.set_status("connecting…")
                    # The table lists again once the new client exists (``_client_ready``), not before.
                    self._reload_when_connected = browser.location is not None
                self.load_buckets()

        self.push_screen(screen, closed)

    @background("closing the old connection", group="close-client")
    def _close_client(self, client: DgClient) -> None:
        client.close()

    def on_object_info_loaded(self, message: ObjectInfoLoaded) -> None:
        self.info_cache[(message.bucket, message.info.key)] = message.info
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
        self._copy_as_shown(info.file_sha256, "sha256")

    def copy_url(self, url: str) -> None:
        self._copy_as_shown(url, "URL")

    def _copy_as_shown(self, text: str, title: str) -> None:
        """The clipboard gets the text as the notification shows it: a control or bidi character in a
        name is pasted escaped, as it was shown, never raw into another terminal or command line."""
        shown = printable(text)
        self.copy_to_clipboard(shown)
        note = " (as shown: characters a terminal would act on are escaped)" if shown != text else ""
        self.notify(f"Copied {printable(text, 300)}{note}", title=title, timeout=4, markup=False)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        # Keys Textual itself owns (the command palette, Tab between panes, Enter in an audit's tree).
        palette = Binding(self.COMMAND_PALETTE_BINDING, "command_palette", "Command palette")
        next_pane = Binding("tab", "app.focus_next", "Next pane")
        open_object = Binding("enter", "select", "Open the object")
        version_details = Binding("enter", "select", "Details of the version")
        sections: list[tuple[str, list[Binding]]] = [
            ("Everywhere", self.live_bindings(type(self)) + [palette, next_pane]),
            ("Browser", self.live_bindings(BrowserScreen)),
            ("Object table", self.live_bindings(ObjectTable)),
            ("Bucket tree", self.live_bindings(BucketTree)),
            ("Transfers (Tab to them)", self.live_bindings(TransfersPanel)),
            ("Details", self.live_bindings(DetailsScreen)),
            ("Audit results", self.live_bindings(AuditScreen) + [open_object]),
            ("Savings by folder (s)", self.live_bindings(SavingsScreen)),
            ("Versions of an object (V)", self.live_bindings(VersionsScreen) + [version_details]),
        ]
        self.push_screen(HelpScreen(sections))

    def live_bindings(self, owner: type[DOMNode]) -> list[Binding]:
        """The bindings a screen or widget declares (dgtui's own, not Textual's), as the keymap has set them."""
        merged = owner._merged_bindings
        if merged is None:
            return []
        bindings = merged.copy()
        if self._keymap:
            bindings.apply_keymap(self._keymap)
        # In the order the class declares them (the merged map puts inherited keys first).
        declared = [(binding.id, binding.description) for binding in owner.BINDINGS if isinstance(binding, Binding)]

        def order(binding: Binding) -> int:
            key = (binding.id, binding.description)
            return declared.index(key) if key in declared else len(declared)

        # dgtui's own: those with an id, and the quit keys that have none (they work whatever the keymap says).
        own = [binding for _key, binding in bindings if binding.id or (binding.id, binding.description) in declared]
        return sorted(own, key=order)

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

    BINDINGS = [Binding("q", "app.quit", "Quit", show=False, id="app.quit")]


#: every screen and widget whose bindings have ids: what a [keymap] entry can name
KEYMAP_OWNERS: tuple[type[DOMNode], ...] = (
    DgtuiApp, QuitConfirmScreen, BrowserScreen, ObjectTable, BucketTree, TransfersPanel, DetailsScreen,
    PreviewScreen, SavingsScreen, AuditScreen, VersionsScreen, ConfirmScreen, PromptScreen, HelpScreen,
    ConnectionErrorScreen,
)

BROWSER_COMMANDS = [
    ("Restore", "Restore the marked or highlighted objects (or folder) to a local folder (d)", "download"),
    ("Restore folder", "Restore everything under the current folder (D)", "download_folder"),
    ("Upload", "Upload a local file or folder into the current folder (u)", "upload"),
    ("Details", "Compression details of the highlighted object (i)", "details"),
    ("Versions", "Older versions and delete markers of the highlighted object, to restore one (V)", "versions"),
    ("Restore folder as of…", "Restore the highlighted or current folder as it stood at a time (A)",
     "restore_as_of"),
    ("Deleted files (on/off)", "Show the open folder's deleted files that versions still keep among its rows, "
                               "to restore them (X)", "toggle_deleted"),
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
    # A loop of our own: asyncio.run() would wait, after the app has left the screen, for every
    # thread worker to end, and one blocked on a server that never answers keeps the process
    # alive with a blank screen. Closing this loop does not wait for them; the caller ends
    # the process without waiting either.
    loop = asyncio.new_event_loop()
    try:
        result = app.run(loop=loop)
    finally:
        loop.close()
    if app.client is not None:
        app.client.close()
    return result if isinstance(result, int) else 0
