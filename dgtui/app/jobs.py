"""The app's one way to run a job: in a thread worker, cancelled one way, ending in a typed message.

A screen or widget that starts background work owns a ``JobRunner`` and hands it a ``Job`` (the
counters, the cancel flag, the question it may ask: ``dgtui.jobs.job``) and a function of that job, most
often one of ``dgtui.jobs`` (``folder_savings``, ``audit``, ``restore_objects``...) with the client
bound::

    self.jobs = JobRunner(self)
    job = self.jobs.start(Job(), lambda job: folder_savings(self.app.live_client, job, bucket, prefix),
                          what="computing savings by folder", group="savings")

    def on_job_finished(self, message: JobFinished) -> None:
        message.stop()
        if not self.jobs.take(message):
            return  # a job this owner replaced or forgot: its answer is stale
        ...  # draw message.result

- **Progress** is the job's counters (``Job.on_progress``, ``items_done``...), which the owner's timer
  samples a few times a second: a fast job cannot flood the message queue.
- **The result** comes back as ``JobFinished(job, result, cancelled)``, posted to the owner. A stale
  result is told by its ``Job`` object: ``take`` answers True only for a job the owner still waits for.
- **Failures** take the app's one error path: ``WorkFailed(error, what, owner, (job,), group)``, shown by
  ``DgtuiApp.on_work_failed`` and the owner's ``show_inline_error`` (whose ``context[0]`` is the job).
- **Cancelling** is ``cancel(job)`` (or ``cancel_group``): the job's flag is set, which the job function
  and the core check between items, and the worker is cancelled. A job that ends cancelled reports
  ``JobFinished(..., cancelled=True)`` (with what it did so far, when its function returns rather than
  raises), never ``WorkFailed``. Starting a job in an ``exclusive`` group cancels and forgets the
  group's running jobs. Textual cancelling the worker (its owner is removed, the app quits) stops the
  job too: the worker's flag is the job's ``stop_flag``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from textual.dom import DOMNode
from textual.message import Message
from textual.worker import Worker, get_current_worker

from dgtui.jobs.job import Job

from .messages import WorkFailed

J = TypeVar("J", bound=Job)


class JobFinished(Message):
    """A job started by a ``JobRunner`` ended (not by an error: those are ``WorkFailed``)."""

    def __init__(self, job: Job, result: Any, *, group: str, cancelled: bool = False) -> None:
        super().__init__()
        self.job = job
        #: what the job function returned; None when it was cancelled before it could return anything
        self.result = result
        #: the group the job was started in (an owner with several kinds of job tells them apart by it)
        self.group = group
        #: the job was cancelled (by the user, by a newer job, or because its owner went away)
        self.cancelled = cancelled


class JobRunner:
    """Starts one owner's jobs in thread workers, cancels them, and tells a current result from a stale one."""

    def __init__(self, owner: DOMNode) -> None:
        self.owner = owner
        #: jobs whose end the owner still waits for, with their group and worker
        self._waiting: dict[Job, tuple[str, Worker[None]]] = {}
        #: jobs whose function has begun, and jobs cancelled before it could (which then never runs): a worker
        #: cancelled before its thread starts never calls the function, so the cancel reports the end itself
        self._begun: set[Job] = set()
        self._ended_early: set[Job] = set()
        self._lock = threading.Lock()

    def start(self, job: J, work: Callable[[J], Any], *, what: str, group: str, exclusive: bool = True) -> J:
        """Run ``work(job)`` in a thread worker; ``what`` names it in an error ("computing savings by folder").

        ``exclusive``: the group's running jobs are cancelled and forgotten first (a newer question replaces
        the older); otherwise jobs of the group run side by side (transfers).
        """
        if exclusive:
            for old in self.running(group):
                self.cancel(old)
                self._waiting.pop(old, None)
        owner = self.owner
        app = owner.app  # resolved now: a screen may be closed before the job ends

        def run() -> None:
            with self._lock:
                if job in self._ended_early:
                    self._ended_early.discard(job)
                    return
                self._begun.add(job)
            worker = get_current_worker()
            job.stop_flag = lambda: worker.is_cancelled
            try:
                result = work(job)
            except Exception as exc:  # noqa: BLE001 - every failure is shown, none is lost
                if job.should_cancel():
                    owner.post_message(JobFinished(job, None, group=group, cancelled=True))
                else:
                    app.post_message(WorkFailed(exc, what, owner, (job,), group=group))
                return
            finally:
                with self._lock:
                    self._begun.discard(job)
                job.ended.set()
            owner.post_message(JobFinished(job, result, group=group, cancelled=job.should_cancel()))

        worker: Worker[None] = owner.run_worker(run, name=what, group=group, description=what, thread=True,
                                                exclusive=exclusive, exit_on_error=False)
        self._waiting[job] = (group, worker)
        return job

    def cancel(self, job: Job) -> None:
        """Stop ``job``: its flag, then its worker. Its end is still reported (``JobFinished``, cancelled)."""
        job.cancel()
        entry = self._waiting.get(job)
        if entry is None or job.ended.is_set():
            return
        group, worker = entry
        with self._lock:
            early = job not in self._begun
            if early:
                self._ended_early.add(job)
        worker.cancel()
        if early:  # its function will never run: its end is now
            job.ended.set()
            self.owner.post_message(JobFinished(job, None, group=group, cancelled=True))

    def cancel_group(self, group: str) -> None:
        for job in self.running(group):
            self.cancel(job)

    def forget(self, job: Job) -> None:
        """Stop ``job`` and drop it: whatever it reports later is stale."""
        self.cancel(job)
        self._waiting.pop(job, None)

    def running(self, group: str | None = None) -> list[Job]:
        """Jobs (of ``group``) whose end the owner has not taken yet."""
        return [job for job, (g, _) in self._waiting.items() if group is None or g == group]

    def take(self, message: JobFinished) -> bool:
        """True, once, when ``message`` ends a job the owner still waits for; False for a stale one."""
        return self._waiting.pop(message.job, None) is not None

    def owns(self, job: Any) -> bool:
        """``job`` is one the owner still waits for (for ``show_inline_error``, whose context[0] is the job)."""
        return job in self._waiting

    def failed(self, context: tuple) -> Job | None:
        """The job a ``WorkFailed`` context names, once, if the owner still waits for it; else None (stale)."""
        job = context[0] if context else None
        if isinstance(job, Job) and self._waiting.pop(job, None) is not None:
            return job
        return None
