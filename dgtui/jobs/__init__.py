"""Jobs: the background work a user starts, one way for the app and the CLI.

A job is a plain function of a client, a ``Job`` (``job.py``: its counters, its questions, its cancel
flag) and its arguments; it returns an outcome that says exactly what was done. The app runs jobs in
Textual thread workers and draws their counters; the CLI runs them in its main thread and prints them.
Jobs know ``dgtui.core`` and nothing of Textual or of a terminal.
"""
