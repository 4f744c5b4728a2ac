"""How big each data set is, per ``--size``."""

from __future__ import annotations

from dataclasses import dataclass, replace

MB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    name: str
    list_keys: int  #: objects under the listed (and browsed) prefix
    list_reps: int
    stats_deltas: int  #: delta objects in the stats bucket
    stats_spaces: int  #: deltaspaces they are spread over
    stats_reps: int
    archive_bytes: int  #: size of each version of the archive
    upload_versions: int
    upload_reps: int
    restore_versions: int
    restore_reps: int
    app_reps: int
    keystroke_restore_bytes: int  #: the restore that runs while keys are pressed
    keystrokes: int
    memory_direct_bytes: int  #: direct (multipart) object for the memory case
    memory_delta_bytes: int  #: delta-eligible archive for the memory case (0: skip)
    audit_deltas: int = 200  #: deltas of one folder rebuilt by the full audit (and by DeltaGlider's verify)
    audit_file_bytes: int = 4 * MB  #: size of each file behind those deltas
    audit_reps: int = 3
    audit_meta_reps: int = 5  #: the metadata audit and detailed stats are close: more samples
    audit_memory_deltas: int = 100_000  #: deltas (in 50 folders) of the second memory case
    cli_restore_bytes: int = 20 * MB  #: archive restored by `dgtui get` / `deltaglider cp`
    cli_restore_versions: int = 5
    savings_real_keys: int = 2_000  #: stored objects on the server for the by-folder memory case
    sampled_deltas: int = 600  #: deltas for sampled against detailed statistics
    savings_synthetic_objects: int = 50_000  #: entries of the generated listing for the memory case
    encoder_family_bytes: int = 48 * MB  #: size of each version of each archive family (encoder-level)
    bigfile_bytes: int = 200 * MB  #: the big archive (500 MB in the issue's targets; smaller on a shared machine)
    terminal_keys: int = 100_000  #: objects under the prefix the terminal case browses in tmux (issue 22's size)
    versions_files: int = 10  #: files of the folder restored as of a past time (versions-at)
    versions_history: int = 200  #: versions of that folder's files in all
    versions_file_bytes: int = 4 * MB  #: size of each of those files
    versions_memory_versions: int = 100_000  #: versions listed by `versions --recursive` (versions-memory)


SMOKE = Sizes(
    name="smoke", list_keys=2_000, list_reps=1, stats_deltas=100, stats_spaces=2, stats_reps=1,
    archive_bytes=2 * MB, upload_versions=3, upload_reps=1, restore_versions=2, restore_reps=1,
    app_reps=1, keystroke_restore_bytes=32 * MB, keystrokes=6,
    # below dgtui's multipart threshold (64 MB) either way, and still many 1 MB read chunks
    memory_direct_bytes=8 * MB, memory_delta_bytes=2 * MB, cli_restore_bytes=2 * MB, cli_restore_versions=2,
    audit_deltas=10, audit_file_bytes=256 * 1024, audit_reps=1, audit_meta_reps=1, audit_memory_deltas=500,
    encoder_family_bytes=1 * MB, bigfile_bytes=8 * MB, terminal_keys=500,
    versions_files=2, versions_history=4, versions_file_bytes=256 * 1024, versions_memory_versions=300,
)

FULL = Sizes(
    name="full", list_keys=100_000, list_reps=5, stats_deltas=2_000, stats_spaces=4, stats_reps=3,
    archive_bytes=50 * MB, upload_versions=20, upload_reps=3, restore_versions=10, restore_reps=3,
    app_reps=3, keystroke_restore_bytes=1024 * MB, keystrokes=40,
    memory_direct_bytes=2048 * MB, memory_delta_bytes=512 * MB,
    savings_real_keys=40_000, sampled_deltas=6_000, savings_synthetic_objects=1_000_000,
)

# The full data sets, each measurement taken once: for a machine shared with other work.
SINGLE = replace(FULL, name="single", list_reps=1, stats_reps=1, upload_reps=1, restore_reps=1, app_reps=1)

BY_NAME = {s.name: s for s in (SMOKE, FULL, SINGLE)}
