"""Running SDK calls off the UI thread, with one path for their failures.

Screens and widgets run their work as jobs (``dgtui.app.jobs.JobRunner``), whose failures take the same
path; ``background`` remains for the object table's listing and metadata workers and the app's connect.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from textual import work
from textual.worker import get_current_worker

from .messages import WorkFailed

F = TypeVar("F", bound=Callable[..., Any])


def background(what: str, *, group: str = "default", exclusive: bool = False) -> Callable[[F], F]:
    """Run a method in a thread worker; any exception it raises goes to the app.

    Exceptions never reach Textual's default handler (which would end the
    app with a traceback): they are posted to the app as ``WorkFailed`` and
    shown by ``DgtuiApp.on_work_failed``. A worker that was cancelled because
    a newer one replaced it fails silently: its result no longer matters.
    ``what`` names the job in the message, e.g. "listing folders".
    """

    def decorator(method: F) -> F:
        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            app = self.app  # resolved now: a screen may be closed before the job ends
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure is shown, none is lost
                if get_current_worker().is_cancelled:
                    return None
                app.post_message(WorkFailed(exc, what, self, args, group=group))
                return None

        return work(thread=True, group=group, exclusive=exclusive, exit_on_error=False,
                    description=what)(run)  # type: ignore[return-value]

    return decorator
