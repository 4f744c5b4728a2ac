"""The bucket tree: buckets, then folders, loaded lazily when a node is expanded.

A node's children come from a Delimiter listing of its prefix, read a few
pages at a time: a folder with 100,000 objects and three subfolders does not
make the tree read 100 pages before it shows anything. When more pages
remain, a "more folders…" node continues from S3's continuation token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import NodeID, TreeNode, UnknownNodeID

from dgtui.core.errors import CancelledError
from dgtui.jobs.job import Job

from ...core.text import human_count, printable, safe_line
from ..jobs import JobFinished, JobRunner
from ..messages import Location, Navigate

#: pages (1,000 keys each) read per expansion before offering "more folders…"
PAGES_PER_EXPANSION = 5

NodeKind = Literal["bucket", "folder", "more", "info"]


@dataclass
class NodeInfo:
    kind: NodeKind
    bucket: str = ""
    prefix: str = ""
    name: str = ""
    loaded: bool = False
    loading: bool = False
    error: str | None = None
    #: for a "more" node: where the listing of its parent continues
    continuation: str | None = None

    @property
    def location(self) -> Location:
        return Location(self.bucket, self.prefix)


@dataclass
class ChildrenLoaded:
    """The folders one listing of a node found (the result of its job)."""

    node_id: int
    prefixes: list[str]
    continuation: str | None
    scanned: int
    append: bool


class BucketTree(Tree[NodeInfo]):
    """Buckets and their folders; Enter opens the highlighted one in the table and moves the focus there,
    a click opens it and leaves the focus here."""

    BINDINGS = [
        Binding("enter", "open_cursor", "Open in the table (the focus goes there; a click opens it and stays in "
                "the tree)", show=False, id="tree.open"),
        Binding("right", "expand", "Expand", show=False, id="tree.expand"),
        Binding("left", "collapse", "Collapse or go to parent", show=False, id="tree.collapse"),
    ]

    COMPONENT_CLASSES = Tree.COMPONENT_CLASSES | {"bucket-tree--dim", "bucket-tree--error"}

    DEFAULT_CSS = """
    BucketTree > .bucket-tree--dim { color: $text-muted; text-style: italic; }
    BucketTree > .bucket-tree--error { color: $text-error; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("buckets"), NodeInfo("info"), id=id)
        self.show_root = False
        # Enter opens a folder (and shows its subfolders); it never collapses one: Left does.
        self.auto_expand = False
        self.guide_depth = 2
        self._by_location: dict[Location, TreeNode[NodeInfo]] = {}
        self.jobs = JobRunner(self)
        #: the location shown in the table; its node gets the cursor when it appears
        self._reveal_target: Location | None = None
        #: the node being selected was chosen with the keyboard (Enter): the focus follows it to the table
        self._by_keyboard = False
        self.set_status("connecting…")

    # -- buckets ---------------------------------------------------------------
    def set_status(self, text: str) -> None:
        """Replace the whole tree with one line of text (connecting, errors)."""
        self.clear()
        self._by_location.clear()
        self.root.add_leaf(Text(safe_line(text), style="italic"), NodeInfo("info"))

    def set_buckets(self, names: list[str]) -> None:
        self.clear()
        self._by_location.clear()
        if not names:
            self.root.add_leaf(Text("no buckets (b creates one)", style="italic"), NodeInfo("info"))
            return
        for name in names:
            info = NodeInfo("bucket", bucket=name, prefix="", name=name)
            node = self.root.add(self._label(info), info, allow_expand=True)
            self._by_location[info.location] = node
        self.cursor_line = 0

    def node_for(self, location: Location) -> TreeNode[NodeInfo] | None:
        return self._by_location.get(location)

    def node_for_bucket(self, bucket: str) -> TreeNode[NodeInfo] | None:
        return self._by_location.get(Location(bucket))

    def reveal(self, location: Location) -> None:
        """Put the cursor on the node of ``location`` if the tree shows it (or once it does)."""
        self._reveal_target = location
        node = self.node_for(location)
        if node is None:
            return
        parent = node.parent
        while parent is not None and parent is not self.root:
            if not parent.is_expanded:
                return
            parent = parent.parent
        # New nodes get their line numbers when the tree is next drawn.
        self.call_after_refresh(self.move_cursor, node, animate=False)

    def reload(self, location: Location) -> None:
        """Forget the children of ``location`` (and list them again if it is open)."""
        node = self.node_for(location)
        if node is None or node.data is None or node.data.kind not in ("bucket", "folder"):
            return
        for key in [k for k in self._by_location if k.bucket == location.bucket
                    and k.prefix.startswith(location.prefix) and k != location]:
            del self._by_location[key]
        node.remove_children()
        node.data.loaded = False
        node.data.error = None
        node.allow_expand = True
        node.set_label(self._label(node.data))
        if node.is_expanded:
            self._start_loading(node)

    # -- labels --------------------------------------------------------------------
    def _label(self, info: NodeInfo) -> Text:
        name = info.name
        text = Text(printable(name, 120), no_wrap=True)
        if info.loading:
            text.append(" loading…", style=self.get_component_rich_style("bucket-tree--dim", partial=True))
        elif info.error:
            text.append(f" ⚠ {info.error}", style=self.get_component_rich_style("bucket-tree--error", partial=True))
        return text

    def render_label(self, node: TreeNode[NodeInfo], base_style, style) -> Text:
        """Leaves (folders found to have no subfolders) keep their siblings' indentation."""
        label = super().render_label(node, base_style, style)
        if not node.allow_expand and node.data is not None and node.data.kind in ("bucket", "folder"):
            label = Text("  ", style=base_style) + label
        return label

    # -- lazy loading ------------------------------------------------------------
    def on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeInfo]) -> None:
        event.stop()
        node = event.node
        info = node.data
        if info is None or info.kind not in ("bucket", "folder"):
            return
        if not info.loaded and not info.loading:
            self._start_loading(node)

    def _start_loading(self, node: TreeNode[NodeInfo], continuation: str | None = None,
                       more_node: TreeNode[NodeInfo] | None = None) -> None:
        info = node.data
        assert info is not None
        info.loading = True
        info.error = None
        node.set_label(self._label(info))
        if more_node is None and not node.children:
            node.add_leaf(Text("loading…", style="italic"), NodeInfo("info"))
        app, node_id, bucket, prefix, append = self.app, node.id, info.bucket, info.prefix, more_node is not None

        def load_children(job: Job) -> ChildrenLoaded:
            prefixes: list[str] = []
            scanned = 0
            next_token: str | None = None
            pages = app.live_client.iter_pages(bucket, prefix, delimiter="/", continuation_token=continuation)
            for number, page in enumerate(pages, start=1):
                if job.should_cancel():
                    raise CancelledError()
                prefixes.extend(p for p in page.common_prefixes if p != prefix)
                scanned += len(page.contents) + len(page.common_prefixes)
                if number >= PAGES_PER_EXPANSION and page.is_truncated:
                    next_token = page.next_continuation_token
                    break
            return ChildrenLoaded(node_id, prefixes, next_token, scanned, append)

        # Nodes load side by side: expanding one does not stop another.
        self.jobs.start(Job(subject=node_id), load_children, what="listing folders", group="tree", exclusive=False)

    def on_job_finished(self, message: JobFinished) -> None:
        message.stop()
        if self.jobs.take(message) and not message.cancelled and isinstance(message.result, ChildrenLoaded):
            self._apply_children(message.result)

    def _apply_children(self, message: ChildrenLoaded) -> None:
        try:
            node = self.get_node_by_id(NodeID(message.node_id))
        except UnknownNodeID:
            return  # the node was removed (refresh) while it loaded
        info = node.data
        assert info is not None
        info.loading = False
        info.loaded = True
        if not message.append:
            node.remove_children()
        else:
            for child in list(node.children):
                if child.data is not None and child.data.kind == "more":
                    child.remove()
        for prefix in message.prefixes:
            child_info = NodeInfo("folder", bucket=info.bucket, prefix=prefix,
                                  name=prefix[len(info.prefix):])
            child = node.add(self._label(child_info), child_info, allow_expand=True)
            self._by_location[child_info.location] = child
        if message.continuation:
            node.add_leaf(Text(f"more folders… ({human_count(message.scanned)} keys read; Enter)", style="italic"),
                          NodeInfo("more", bucket=info.bucket, prefix=info.prefix,
                                   continuation=message.continuation))
        if not node.children:
            node.allow_expand = False
        node.set_label(self._label(info))
        target = self._reveal_target
        if target is not None and target.bucket == info.bucket and target != info.location \
                and self.node_for(target) is not None:
            self.reveal(target)

    def show_inline_error(self, text: str, error: BaseException, context: tuple = ()) -> None:
        """A listing failed: say so on that node; the other buckets still work."""
        job = self.jobs.failed(context)
        if job is None:
            return
        try:
            node = self.get_node_by_id(job.subject)
        except UnknownNodeID:
            return
        info = node.data
        if info is None:
            return
        info.loading = False
        info.loaded = False
        info.error = _short_reason(text)
        node.remove_children()
        node.collapse()
        node.set_label(self._label(info))

    # -- selection -------------------------------------------------------------------
    def action_open_cursor(self) -> None:
        self._by_keyboard = True
        self.action_select_cursor()

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeInfo]) -> None:
        event.stop()
        by_keyboard, self._by_keyboard = self._by_keyboard, False
        info = event.node.data
        if info is None:
            return
        if info.kind in ("bucket", "folder"):
            if event.node.allow_expand and not event.node.is_expanded:
                event.node.expand()
            self.post_message(Navigate(info.location, focus_table=by_keyboard))
        elif info.kind == "more" and event.node.parent is not None:
            parent = event.node.parent
            event.node.set_label(Text("loading more folders…", style="italic"))
            self._start_loading(parent, info.continuation, more_node=event.node)

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand and not node.is_expanded:
            node.expand()

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent, animate=False)

    def current_location(self) -> Location | None:
        node = self.cursor_node
        if node is None or node.data is None or node.data.kind not in ("bucket", "folder"):
            return None
        return node.data.location


def _short_reason(text: str) -> str:
    """Tree labels are narrow: keep the gist of an error ("access denied", "bucket not found")."""
    lowered = text.lower()
    for phrase in ("access denied", "bucket not found", "not found", "credentials", "cannot reach"):
        if phrase in lowered:
            return phrase
    return printable(text, 60)

