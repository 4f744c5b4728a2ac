"""Shown when the endpoint cannot be used at all: what failed, what to check, Retry."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Label, Static

from dgtui import ConnectionFailedError, CredentialsError

from ...core.text import printable
from ..widgets.footer import AppFooter


class ConnectionErrorScreen(Screen[bool]):
    """Dismissed with True when the user asks to retry."""

    AUTO_FOCUS = "#retry"

    BINDINGS = [
        Binding("r", "retry", "Retry", id="connection.retry"),
        Binding("f5", "retry", "Retry", show=False, id="connection.retry"),
        Binding("q", "give_up", "Quit", id="connection.quit"),
    ]

    def __init__(self, message: str, error: BaseException | None, endpoint: str | None) -> None:
        super().__init__()
        self.message = message
        self.error = error
        self.endpoint = endpoint

    def compose(self) -> ComposeResult:
        with Center():
            with Vertical(id="connection-error"):
                if isinstance(self.error, CredentialsError):
                    title = "The S3 endpoint did not accept the credentials"
                elif isinstance(self.error, ConnectionFailedError):
                    title = "Cannot connect to the S3 endpoint"
                else:
                    title = "Cannot list the buckets"
                yield Label(Text(title), id="connection-error-title")
                yield Static(Text(self.message), markup=False, id="connection-error-message")
                yield Static(self._hints(), markup=False, id="connection-error-hints")
                with Horizontal(id="connection-error-buttons"):
                    yield Button("Retry (r)", id="retry", variant="primary", compact=True)
                    yield Button("Quit (q)", id="quit", compact=True)
        yield AppFooter()

    def _hints(self) -> Text:
        endpoint = printable(self.endpoint) if self.endpoint else "the AWS default for your region"
        lines = [
            f"Endpoint: {endpoint}",
            "",
            "Check:",
            "  • endpoint URL: --endpoint-url or AWS_ENDPOINT_URL; server up?",
            "  • profile: --profile or AWS_PROFILE (see ~/.aws/config)",
            "  • credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,",
            "    or ~/.aws/credentials",
            "  • no right to list buckets? open one: dgtui s3://bucket/prefix/",
        ]
        return Text("\n".join(lines))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "retry":
            self.action_retry()
        else:
            self.action_give_up()

    def action_give_up(self) -> None:
        """Quit; the exit status says that dgtui never got to work."""
        self.app.exit(1, return_code=1)

    def action_retry(self) -> None:
        self.dismiss(True)
