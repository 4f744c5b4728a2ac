"""Audit of a bucket or folder: runs in the background, then lists problems grouped by folder.

The worker only adds to counters and to a list of problems; a timer draws
them a few times per second. Enter on a problem opens its folder in the
browser with the cursor on the object.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from dgtui import AuditProblem, AuditSummary, CancelledError
from dgtui.jobs.audit import AuditJob, audit

from ...core.text import human_count, human_size, plural, printable, safe_line
from ..jobs import JobFinished, JobRunner
from ..messages import Location
from ..widgets.footer import AppFooter
from ..widgets.progress import progress_bar

#: how often the progress and new problems are drawn while an audit runs
REFRESH_S = 0.25

STAGES = {"listing": "listing", "metadata": "reading metadata", "checking": "checking bytes"}


class AuditScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "close", "Back", id="audit.back"),
        Binding("q", "close", "Back", show=False, id="audit.back"),
        Binding("x", "cancel", "Cancel audit", id="audit.cancel"),
        Binding("f", "full", "Check bytes too", id="audit.full"),
    ]

    def __init__(self, location: Location, *, full: bool = False) -> None:
        super().__init__()
        self.location = location
        self.full = full
        self.running = False
        self.summary: AuditSummary | None = None
        self.note: str | None = None
        self.problems: list[AuditProblem] = []
        self._shown = 0
        self._folders: dict[str, TreeNode] = {}
        self.jobs = JobRunner(self)
        #: the audit under way or last started: its counters and the problems it found (appended by the
        #: job, drained into the tree by the timer)
        self._job = AuditJob(stage="listing")

    def compose(self) -> ComposeResult:
        yield Static("", id="audit-title", markup=False)
        yield Static("", id="audit-status", markup=False)
        tree: Tree[AuditProblem | None] = Tree(Text("problems"), id="audit-results")
        tree.show_root = False
        tree.guide_depth = 2
        yield tree
        yield AppFooter()

    def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self._tick)
        self.start()

    # -- running -------------------------------------------------------------------
    def start(self) -> None:
        self.running = True
        self.summary, self.note = None, None
        self.problems, self._shown = [], 0
        self._folders = {}
        self.query_one(Tree).clear()
        app, location, full = self.app, self.location, self.full
        self._job = self.jobs.start(AuditJob(stage="listing"),
                                    lambda job: audit(app.live_client, job, location.url, full=full),
                                    what="auditing", group="audit")
        self._draw()

    @property
    def stage(self) -> str:
        return self._job.stage

    @property
    def done(self) -> int:
        return self._job.stage_done

    @property
    def total(self) -> int:
        return self._job.stage_total

    @property
    def _found(self) -> list[AuditProblem]:
        return self._job.found

    def on_job_finished(self, message: JobFinished) -> None:
        message.stop()
        if not self.jobs.take(message) or message.job is not self._job:
            return
        self.running = False
        if message.cancelled:
            self.note = self.note or "cancelled"
            if self.is_attached:
                self._drain()
                self._draw()
            return
        self.summary = message.result
        self._drain()
        findings = getattr(self.app, "audit_findings", None)
        if findings is not None:
            findings.replace(self.location.bucket, self.location.prefix, self.problems)
            browser = getattr(self.app, "browser", None)
            if browser is not None:
                browser.table.refresh()
        self._draw()
        tree = self.query_one(Tree)
        if self.problems:
            tree.focus()

    def show_inline_error(self, text: str, error: BaseException, context: tuple = ()) -> None:
        job = self.jobs.failed(context)
        if job is None or job is not self._job:
            return
        self.running = False
        self.note = "cancelled" if isinstance(error, CancelledError) else f"failed: {text}"
        if self.is_attached:
            self._drain()
            self._draw()

    def action_cancel(self) -> None:
        if self.running:
            self.jobs.cancel(self._job)
            self.running = False
            self.note = "cancelled"
            self._draw()
        else:
            self.app.notify("The audit has finished; f checks the bytes too, Esc goes back.", timeout=3)

    def action_full(self) -> None:
        if self.running:
            self.app.notify("The audit is still running; x cancels it.", timeout=3)
            return
        self.full = True
        self.start()

    def action_close(self) -> None:
        self.jobs.cancel_group("audit")
        self.app.pop_screen()

    # -- drawing ---------------------------------------------------------------------
    def _tick(self) -> None:
        if self.running:
            self._drain()
            self._draw()

    def _drain(self) -> None:
        """Put the problems found since the last look into the tree, under their folder."""
        found = self._found[self._shown:]
        if not found:
            return
        self._shown += len(found)
        tree = self.query_one(Tree)
        for problem in found:
            self.problems.append(problem)
            node = self._folders.get(problem.folder)
            if node is None:
                label = Text(printable(problem.folder + "/" if problem.folder else "(bucket root)", 200),
                             style="bold")
                node = tree.root.add(label, data=None, expand=True)
                self._folders[problem.folder] = node
            node.add_leaf(problem_label(problem), data=problem)
        for folder, node in self._folders.items():
            count = len(node.children)
            name = printable(folder + "/" if folder else "(bucket root)", 200)
            node.set_label(Text(name, style="bold") + Text(f"  {plural(count, 'problem')}", style="dim"))

    def _draw(self) -> None:
        what = "Audit (metadata and bytes)" if self.full else "Audit"
        self.query_one("#audit-title", Static).update(
            Text(f"{what}  ", style="bold") + Text(printable(self.location.url, 300)))
        self.query_one("#audit-status", Static).update(self._status())

    def _status(self) -> Text:
        if self.running:
            stage = STAGES.get(self.stage, self.stage)
            line = Text()
            if self.total:
                fraction = self.done / self.total
                line.append_text(progress_bar(fraction, 30, "bold", "dim"))
                line.append(f" {stage} {human_count(self.done)}/{human_count(self.total)}")
            else:
                line.append(f"{stage} {human_count(self.done)}…")
            line.append(f" · {plural(len(self._found), 'problem')} so far · x cancels", style="dim")
            return line
        summary = self.summary
        if summary is None:
            return Text(f"Audit {self.note or 'stopped'}; {plural(len(self.problems), 'problem')} found before "
                        "that. f starts a full check.")
        if summary.problem_count:
            text = Text(f"{plural(summary.problem_count, 'problem')} in {plural(len(self._folders), 'folder')}",
                        style="bold red")
        else:
            text = Text("No problems found", style="bold green")
        text.append(f" · {plural(summary.objects, 'stored object')}, {plural(summary.deltas, 'delta')}, "
                    f"{plural(summary.references, 'reference')}")
        if summary.proxy_encrypted:
            text.append(f", {human_count(summary.proxy_encrypted)} encrypted by deltaglider_proxy")
        if summary.wasted_bytes:
            text.append(f" · {human_size(summary.wasted_bytes)} stored for nothing")
        if summary.full:
            text.append(f" · {plural(summary.rebuilt, 'delta')} rebuilt and {plural(summary.checked, 'other object')} "
                        f"checked: {human_size(summary.bytes_checked)} read from the bucket, "
                        f"{human_size(summary.bytes_rebuilt)} rebuilt")
        else:
            text.append(" · metadata only; f checks the bytes too", style="dim")
        if self.problems:
            text.append("\nEnter opens the object in the browser.", style="dim")
        return text

    # -- jumping to an object -------------------------------------------------------------
    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        problem = event.node.data
        if not isinstance(problem, AuditProblem):
            return
        folder = problem.folder + "/" if problem.folder else ""
        target = Location(self.location.bucket, folder)
        cursor = problem.logical_key if problem.logical_key != folder else None
        self.jobs.cancel_group("audit")
        self.app.pop_screen()
        browser = getattr(self.app, "browser", None)
        if browser is not None:
            browser.navigate(target, cursor_key=cursor)
            browser.table.focus()


def problem_label(problem: AuditProblem) -> Text:
    name = problem.logical_key[len(problem.folder) + 1:] if problem.folder else problem.logical_key
    if problem.logical_key.endswith("/") or not name:
        name = problem.key.rsplit("/", 1)[-1]
    label = Text(problem.kind.label, style="bold red")
    label.append("  ")
    label.append(printable(name, 120), style="bold")
    label.append("  ")
    label.append(safe_line(problem.message, 400))
    return label
