"""moto's standalone server (the same app, request handler and threading as ``python -m moto.server``) with one
route more for the suite's big data sets.

``POST /_dgtui_seed/<bucket>`` with one key a line stores an empty object at each key straight in moto's
memory. Every other request goes to moto untouched. 10,000 PUTs over HTTP cost moto about 40 s of CPU on a
small machine (and boto3 about 20 s more); this takes well under a second. What the tests check (listings,
counts) goes over HTTP as before.

Run as a script: ``python moto_with_seeding.py HOST PORT``.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Iterable

SEED_PATH = "/_dgtui_seed/"
MAX_SEED_BODY = 64 * 1024 * 1024


def with_seeding(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    def seeding_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(SEED_PATH):
            return app(environ, start_response)
        bucket = path[len(SEED_PATH):]
        length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_SEED_BODY)
        keys = environ["wsgi.input"].read(length).decode().splitlines()
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for key in keys:
            backend.put_object(bucket, key, b"")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(len(keys)).encode()]

    return seeding_app


def main(host: str, port: int) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    # as moto.server.main does
    os.environ.setdefault("MOTO_PORT", str(port))
    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.debug = True  # type: ignore[attr-defined]
    run_simple(host, port, with_seeding(moto_app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
