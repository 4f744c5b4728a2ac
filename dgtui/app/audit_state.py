"""What the last audit of each place found, for marking rows in the table and the details screen.

Kept by the app for the session. An audit of a prefix replaces what an
earlier audit found under that prefix (fixed objects lose their mark).
"""

from __future__ import annotations

from dgtui import AuditProblem


class AuditFindings:
    def __init__(self) -> None:
        #: (bucket, logical key) -> problems of that object
        self._by_key: dict[tuple[str, str], list[AuditProblem]] = {}
        #: (bucket, folder prefix ending in '/') -> how many problems lie below it
        self._folders: dict[tuple[str, str], int] = {}

    def replace(self, bucket: str, prefix: str, problems: list[AuditProblem]) -> None:
        """The findings of a finished audit of ``s3://bucket/prefix``."""
        self._by_key = {k: v for k, v in self._by_key.items() if not (k[0] == bucket and k[1].startswith(prefix))}
        for problem in problems:
            self._by_key.setdefault((bucket, problem.logical_key), []).append(problem)
        self._folders = {}
        for (b, key), found in self._by_key.items():
            for cut in range(len(key)):
                if key[cut] == "/":
                    folder = (b, key[:cut + 1])
                    self._folders[folder] = self._folders.get(folder, 0) + len(found)

    def for_key(self, bucket: str, key: str) -> list[AuditProblem]:
        return self._by_key.get((bucket, key), [])

    def folder_damaged(self, bucket: str, prefix: str) -> bool:
        return (bucket, prefix) in self._folders

    def __bool__(self) -> bool:
        return bool(self._by_key)
