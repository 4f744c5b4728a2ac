"""A restore never writes outside the chosen folder: links and folders standing where a file goes.

Each answer of the existing-file dialog, the marked-rows restore, the CLI and
the SDK meet three things at the destination: a symbolic link to a folder
outside the chosen one, a dangling link, and a folder where the file should
be. A link is an existing file (replaced itself, never followed); a folder is
reported and never written into; nothing appears outside the chosen folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dgtui import LocalWriteError
from dgtui.cli import main
from dgtui.jobs.job import Job, Question
from dgtui.jobs.restore import restore_objects, restore_prefix

from .conftest import leftovers

BODIES = {"p/a": b"contents of a\n" * 20, "p/b": b"contents of b\n" * 30}
KINDS = ("link-outside", "dangling-link", "folder")


@pytest.fixture
def plain(boto3_s3, bucket):
    """Objects written by another tool (plain S3 objects), as in the report."""
    for key, body in BODIES.items():
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket


def lay_out(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """T/dest and T/outside, with ``kind`` standing at T/dest/a and T/dest/b."""
    dest, outside = tmp_path / "T" / "dest", tmp_path / "T" / "outside"
    dest.mkdir(parents=True)
    outside.mkdir()
    for name in ("a", "b"):
        if kind == "link-outside":
            os.symlink("../outside", dest / name)
        elif kind == "dangling-link":
            os.symlink(f"../outside/missing-{name}", dest / name)
        else:
            (dest / name).mkdir()
    return dest, outside


def assert_nothing_outside(outside: Path) -> None:
    assert list(outside.iterdir()) == [], "a restore wrote outside the chosen folder"


def assert_standing(dest: Path, kind: str, name: str) -> None:
    """What was at dest/name is still there as it was."""
    path = dest / name
    if kind == "folder":
        assert path.is_dir() and not path.is_symlink() and list(path.iterdir()) == []
    else:
        assert path.is_symlink()


class Scripted(Job):
    """Answers questions by their title; remembers every question."""

    def __init__(self, answers: dict[str, str]):
        super().__init__()
        self.answers = answers
        self.questions: list[Question] = []

    def ask(self, question: Question) -> str | None:
        self.questions.append(question)
        return self.answers.get(question.title)


FOLDER_Q = "Some files already exist"
FILE_Q = "The file already exists"
#: (flow, answer to the folder question, answer to each file's question)
FLOWS = [("prefix", "overwrite", None), ("prefix", "rename", None), ("prefix", "skip", None),
         ("prefix", "ask", "overwrite"), ("prefix", "ask", "all"), ("prefix", "ask", "rename"),
         ("prefix", "ask", "skip"),
         ("marked", None, "overwrite"), ("marked", None, "all"), ("marked", None, "rename"), ("marked", None, "skip"),
         ("single", None, "overwrite"), ("single", None, "rename"), ("single", None, "skip")]


def effective(folder_answer: str | None, file_answer: str | None) -> str:
    if folder_answer in ("overwrite", "rename", "skip"):
        return folder_answer
    return "overwrite" if file_answer == "all" else str(file_answer)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("flow, folder_answer, file_answer", FLOWS,
                         ids=[f"{f}-{a or ''}-{b or ''}".replace("--", "-").strip("-") for f, a, b in FLOWS])
def test_every_answer_stays_in_the_folder(client, plain, tmp_path, kind, flow, folder_answer, file_answer):
    dest, outside = lay_out(tmp_path, kind)
    answers = {FOLDER_Q: folder_answer or "", FILE_Q: file_answer or ""}
    job = Scripted(answers)
    names = ["a"] if flow == "single" else ["a", "b"]
    if flow == "prefix":
        outcome = restore_prefix(client, job, f"s3://{plain}/p/", str(dest))
    elif flow == "marked":
        outcome = restore_objects(client, job, plain, [(f"p/{n}", len(BODIES[f"p/{n}"])) for n in names], str(dest))
    else:
        outcome = restore_objects(client, job, plain, [("p/a", len(BODIES["p/a"]))], str(dest / "a"), as_file=True)
    assert_nothing_outside(outside)
    assert not outcome.cancelled
    if kind == "folder":
        # Reported, never written into, and no question about replacing it.
        assert job.questions == []
        assert sorted(k for k, _ in outcome.failures) == [f"p/{n}" for n in names]
        assert all("a folder stands where the file" in reason for _, reason in outcome.failures), outcome.failures
        assert outcome.results == []
        for name in names:
            assert_standing(dest, kind, name)
        return
    # A link counts as an existing file: the question comes, whatever the link points at.
    titles = [q.title for q in job.questions]
    if flow == "prefix":
        assert titles[0] == FOLDER_Q
        assert titles[1:] == ([FILE_Q] if file_answer == "all" else [FILE_Q] * 2) if folder_answer == "ask" \
            else titles == [FOLDER_Q]
    else:
        assert titles == ([FILE_Q] if file_answer == "all" else [FILE_Q] * len(names))
    assert outcome.failures == []
    what = effective(folder_answer, file_answer)
    for name in names:
        body = BODIES[f"p/{name}"]
        if what == "overwrite":  # the link itself is replaced by the file
            assert not (dest / name).is_symlink() and (dest / name).read_bytes() == body
        elif what == "rename":
            assert_standing(dest, kind, name)
            assert (dest / f"{name} (1)").read_bytes() == body and not (dest / f"{name} (1)").is_symlink()
        else:
            assert_standing(dest, kind, name)
    assert outcome.skipped == (len(names) if what == "skip" else 0)
    assert len(outcome.results) == (0 if what == "skip" else len(names))
    assert not [p for p in dest.iterdir() if p.name.startswith(".dgtui-")], "no temp file left"


@pytest.mark.parametrize("kind", KINDS)
def test_sdk_and_cli_never_follow_what_stands_at_the_destination(client, plain, tmp_path, kind, capsys):
    dest, outside = lay_out(tmp_path, kind)
    url = f"s3://{plain}/p/a"
    # download into the folder, restore to the file's path, in a batch, a prefix: with and without overwriting
    # (download() given a path that is a folder, or a link to one, writes into it, as documented)
    for call in (lambda ow: client.download(url, dest, overwrite=ow),
                 lambda ow: client.restore_file(url, dest / "a", root=dest, overwrite=ow),
                 lambda ow: client.download_batch([url], dest, overwrite=ow)):
        for overwrite in (False, True):
            if kind == "folder":
                with pytest.raises(LocalWriteError, match="a folder stands where the file"):
                    call(overwrite)
            elif not overwrite:
                with pytest.raises(Exception, match="already exists"):
                    call(overwrite)
                assert (dest / "a").is_symlink()
            else:
                call(overwrite)
                assert (dest / "a").read_bytes() == BODIES["p/a"] and not (dest / "a").is_symlink()
                (dest / "a").unlink()
                lay_out_one(dest, kind, "a")
            assert_nothing_outside(outside)
    done, problems = client.download_prefix(f"s3://{plain}/p/", dest, overwrite=True)
    assert_nothing_outside(outside)
    if kind == "folder":
        assert done == [] and all("a folder stands where the file" in r for _, r in problems) and len(problems) == 2
    else:
        assert problems == [] and (dest / "b").read_bytes() == BODIES["p/b"]
    # the CLI: get and get -r
    for name in ("a", "b"):
        if (dest / name).exists() or (dest / name).is_symlink():
            if (dest / name).is_file() and not (dest / name).is_symlink():
                (dest / name).unlink()
                lay_out_one(dest, kind, name)
    assert main(["get", url, str(dest)]) == 1
    err = capsys.readouterr().err
    assert ("a folder stands where the file" if kind == "folder" else "already exists") in err, err
    assert main(["get", "-r", f"s3://{plain}/p/", str(dest)]) == 1
    capsys.readouterr()
    assert_nothing_outside(outside)
    code = main(["get", "-r", "--overwrite", f"s3://{plain}/p/", str(dest)])
    err = capsys.readouterr().err
    assert_nothing_outside(outside)
    if kind == "folder":
        assert code == 1 and err.count("a folder stands where the file") == 2, err
        assert_standing(dest, kind, "a")
    else:
        assert code == 0 and (dest / "a").read_bytes() == BODIES["p/a"]
    assert [p for p in leftovers(dest) if p.name.startswith(".dgtui-")] == []


def lay_out_one(dest: Path, kind: str, name: str) -> None:
    if kind == "link-outside":
        os.symlink("../outside", dest / name)
    elif kind == "dangling-link":
        os.symlink(f"../outside/missing-{name}", dest / name)
    else:
        (dest / name).mkdir()


def test_the_folder_is_checked_again_right_before_the_rename(client, plain, tmp_path, monkeypatch):
    """A folder swapped for a link to elsewhere while the object downloads: the file is not put there."""
    from dgtui.core import engine

    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    real_set_mtime = engine._set_mtime

    def swap_then_set(path: Path, last_modified: object) -> None:
        real_set_mtime(path, last_modified)
        # the temp file is complete; now the folder it goes to becomes a link out of the chosen folder
        # (moved with the temp file in it, so the rename would otherwise succeed, outside)
        os.rename(root / "sub", outside / "sub")
        os.symlink(outside / "sub", root / "sub")

    monkeypatch.setattr(engine, "_set_mtime", swap_then_set)
    with pytest.raises(LocalWriteError, match="leads outside the chosen folder"):
        client.restore_file(f"s3://{plain}/p/a", root / "sub" / "a", root=root)
    assert list(outside.rglob("*")) == [outside / "sub"], "nothing written outside, the temp file removed"
