"""What one shared folder would save, measured on two neighbouring archives of a layout.

``LayoutAdvice`` (see ``savings``) finds sibling folders that each hold one
archive of a similar name. Here two of them (neighbours in key order, so
consecutive versions) are restored into a temporary folder, each checked
against its sha256, and the newer one is encoded against the older with
xdelta3, exactly as an upload into a shared folder would. Nothing is written
to the bucket; the temporary files go when the measure ends.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import codec
from .errors import CancelledError
from .savings import LayoutAdvice

if TYPE_CHECKING:
    from .client import DgClient

#: (bytes done, bytes to do, stage) while the two archives are restored and encoded
LayoutProgress = Callable[[int, int, str], None]


def estimate_shared_folder(client: "DgClient", bucket: str, advice: LayoutAdvice, *,
                           progress: LayoutProgress | None = None,
                           should_cancel: Callable[[], bool] | None = None) -> LayoutAdvice:
    """Fill ``advice.shared_stored_bytes`` and ``sample_delta_ratio``; returns the same object.

    With the delta of one version against its neighbour taking a share ``r``
    of the file, ``n`` versions of average size ``a`` in one folder store
    about ``a * (1 + (n - 1) * r)``: one reference, and a delta per version.
    """
    codec.xdelta3_path()  # a clear "install xdelta3" before anything is downloaded
    older_key, newer_key = advice.examples
    work = client.work_dir
    with tempfile.TemporaryDirectory(prefix="dgtui-layout-", dir=work) as tmp:
        older, newer = Path(tmp) / "older", Path(tmp) / "newer"
        for stage, key, path in (("restoring the first sample", older_key, older),
                                 ("restoring the second sample", newer_key, newer)):
            def step(done: int, total: int, _stage: str, stage: str = stage) -> None:
                if progress:
                    progress(done, total, stage)

            client.download(f"s3://{bucket}/{key}", path, progress=step, should_cancel=should_cancel)
        if should_cancel and should_cancel():
            raise CancelledError()
        size = os.path.getsize(newer)
        if progress:
            progress(0, size, "encoding one against the other")
        delta = codec.encode(older, newer, Path(tmp) / "delta", should_cancel=should_cancel)
        if progress:
            progress(size, size, "encoding one against the other")
    ratio = min(delta / size, 1.0) if size else 1.0
    average = advice.original_bytes / advice.folders if advice.folders else 0
    advice.sample_delta_ratio = ratio
    advice.shared_stored_bytes = round(average * (1 + (advice.folders - 1) * ratio))
    return advice
