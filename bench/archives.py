"""Archive families, two versions each, generated locally with the edits real releases have.

* ``source-zip``: a zip (deflate) of a source tree; the next version edits lines in 4% of the files,
  adds two files and drops one, as a release of a project does.
* ``sql-tar``: a tar of SQL dumps (one per table); the next version updates 1% of the rows, deletes
  some and appends new ones at the end of each table.
* ``sql-tar-light``: the same dumps a quiet day later: 0.1% of the rows updated, 0.2% appended.
* ``checkpoint``: a model-checkpoint-like binary: a header, then float32 tensors by layer; fine-tuning
  rewrites the last quarter of the layers and leaves the frozen ones byte for byte.
* ``layer-tar``: a container-layer-like tar of binaries, shared libraries and config files; the next
  layer replaces a few binaries, edits configs and every member's header carries a new mtime.

Each is about ``size`` bytes. The data is seeded: the same size gives the same bytes.
"""

from __future__ import annotations

import io
import random
import struct
import tarfile
import zipfile
from functools import partial
from pathlib import Path

FAMILIES = ("source-zip", "sql-tar", "sql-tar-light", "checkpoint", "layer-tar")

_WORDS = ("def", "return", "self", "value", "index", "result", "config", "import", "from", "class", "if",
          "else", "for", "in", "while", "None", "True", "False", "name", "path", "data", "items", "key",
          "error", "raise", "with", "open", "read", "write", "len", "range", "list", "dict", "str", "int")


_LINES: list[str] = []


def _source_file(rng: random.Random, lines: int) -> list[str]:
    if not _LINES:  # a project's vocabulary of lines: many repeat across its files, as in real code
        pool = random.Random(7)
        _LINES.extend("    " * pool.randrange(0, 4)
                      + " ".join(pool.choice(_WORDS) for _ in range(pool.randrange(2, 10)))
                      for _ in range(20_000))
    return rng.choices(_LINES, k=lines)


def _source_tree(rng: random.Random, size: int) -> dict[str, list[str]]:
    tree: dict[str, list[str]] = {}
    total = n = 0
    while total < size * 3:  # deflate gets about 3:1 on such text
        lines = _source_file(rng, rng.randrange(40, 400))
        tree[f"src/pkg{n % 37}/module_{n}.py"] = lines
        total += sum(len(line) + 1 for line in lines)
        n += 1
    return tree


def _zip(tree: dict[str, list[str]], path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(tree):
            z.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), "\n".join(tree[name]) + "\n",
                       compress_type=zipfile.ZIP_DEFLATED)


def source_zip(folder: Path, size: int) -> tuple[Path, Path]:
    rng = random.Random(101)
    tree = _source_tree(rng, size)
    first, second = folder / "source-1.zip", folder / "source-2.zip"
    _zip(tree, first)
    names = sorted(tree)
    for name in rng.sample(names, max(1, len(names) // 25)):
        lines = tree[name]
        for _ in range(rng.randrange(1, 6)):
            lines[rng.randrange(len(lines))] = "    " + " ".join(rng.choice(_WORDS) for _ in range(6))
    del tree[rng.choice(names)]
    for n in range(2):
        tree[f"src/new/feature_{n}.py"] = _source_file(rng, 200)
    _zip(tree, second)
    return first, second


def _table_rows(rng: random.Random, table: str, start: int, count: int) -> list[str]:
    return [f"INSERT INTO {table} VALUES ({i}, '{rng.choice(_WORDS)}_{rng.randrange(10**6)}', "
            f"{rng.randrange(10**5)}.{rng.randrange(100):02d}, '2026-{rng.randrange(1, 13):02d}-"
            f"{rng.randrange(1, 29):02d}', {rng.choice(('TRUE', 'FALSE'))});" for i in range(start, start + count)]


def _tar(members: list[tuple[str, bytes, int]], path: Path) -> None:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as t:
        for name, data, mtime in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            t.addfile(info, io.BytesIO(data))


def sql_tar(folder: Path, size: int, *, light: bool = False) -> tuple[Path, Path]:
    """A tar of SQL dumps: 1% of rows updated, 0.2% deleted, 2% appended; ``light``: 0.1% updated, none
    deleted, 0.2% appended (a day of a quiet database)."""
    rng = random.Random(202)
    tables = {}
    per_table = size // 8 // 90  # about 90 bytes a row, 8 tables
    for t in range(8):
        tables[f"table_{t}"] = _table_rows(rng, f"table_{t}", 0, per_table)
    stem = "light-dumps" if light else "dumps"
    first, second = folder / f"{stem}-1.tar", folder / f"{stem}-2.tar"
    _tar([(f"dump/{name}.sql", ("\n".join(rows) + "\n").encode(), 1_780_000_000)
          for name, rows in tables.items()], first)
    for name, rows in tables.items():
        for i in rng.sample(range(len(rows)), len(rows) // (1000 if light else 100)):
            rows[i] = _table_rows(rng, name, i, 1)[0]
        if not light:
            for i in sorted(rng.sample(range(len(rows)), len(rows) // 500), reverse=True):
                del rows[i]
        rows += _table_rows(rng, name, per_table, per_table // (500 if light else 50))
    _tar([(f"dump/{name}.sql", ("\n".join(rows) + "\n").encode(), 1_780_086_400)
          for name, rows in tables.items()], second)
    return first, second


def checkpoint(folder: Path, size: int) -> tuple[Path, Path]:
    rng = random.Random(303)
    layers = 48
    per_layer = size // layers // 4 * 4

    def tensor() -> bytes:
        # float32 weights around zero: random mantissas, exponents in a narrow band, as trained weights have
        raw = bytearray(rng.randbytes(per_layer))
        for i in range(3, per_layer, 4):
            raw[i] = 0x3C + (raw[i] & 0x01) | (raw[i] & 0x80)
        return bytes(raw)

    weights = [tensor() for _ in range(layers)]

    def write(path: Path, step: int) -> None:
        with open(path, "wb") as f:
            header = f'{{"format": "ckpt", "step": {step}, "layers": {layers}, "dtype": "float32"}}'.encode()
            f.write(struct.pack("<Q", len(header)) + header)
            for w in weights:
                f.write(w)

    first, second = folder / "model-1.ckpt", folder / "model-2.ckpt"
    write(first, 10_000)
    for i in range(layers - layers // 4, layers):  # fine-tuning: the head's layers change, the rest is frozen
        weights[i] = tensor()
    write(second, 12_000)
    return first, second


def layer_tar(folder: Path, size: int) -> tuple[Path, Path]:
    rng = random.Random(404)
    members: list[tuple[str, bytes]] = []
    total = 0
    n = 0
    while total < size:
        if n % 5 == 4:
            data = ("\n".join(f"{rng.choice(_WORDS)}={rng.randrange(10**6)}" for _ in range(rng.randrange(20, 200)))
                    + "\n").encode()
            name = f"etc/app/conf_{n}.ini"
        else:
            # binaries: code-like bytes with repeated structure (tables, padding), not pure noise
            blob = bytearray()
            chunk = rng.randbytes(4096)
            for _ in range(rng.randrange(16, 128)):
                blob += chunk if rng.random() < 0.3 else rng.randbytes(4096)
            data = bytes(blob)
            name = f"usr/lib/lib{n}.so" if n % 2 else f"usr/bin/tool{n}"
        members.append((name, data))
        total += len(data)
        n += 1
    first, second = folder / "layer-1.tar", folder / "layer-2.tar"
    _tar([(name, data, 1_780_000_000) for name, data in members], first)
    for i in rng.sample(range(len(members)), max(1, len(members) // 20)):
        name, data = members[i]
        if name.endswith(".ini"):
            members[i] = (name, data + b"added=1\n")
        else:
            edited = bytearray(data)
            for _ in range(8):  # a rebuilt binary: patched here and there, same layout
                at = rng.randrange(len(edited) - 64)
                edited[at:at + 64] = rng.randbytes(64)
            members[i] = (name, bytes(edited))
    members.append(("usr/bin/newtool", rng.randbytes(256 * 1024)))
    _tar([(name, data, 1_780_086_400) for name, data in members], second)
    return first, second


def generate(family: str, folder: Path, size: int) -> tuple[Path, Path]:
    """The two versions of ``family`` in ``folder`` (generated once; kept for later runs on the same work dir)."""
    makers = {"source-zip": source_zip, "sql-tar": sql_tar, "sql-tar-light": partial(sql_tar, light=True),
              "checkpoint": checkpoint, "layer-tar": layer_tar}
    done = folder / f".{family}-{size}.done"
    if done.exists():
        return tuple(Path(p) for p in done.read_text().split("\n"))  # type: ignore[return-value]
    first, second = makers[family](folder, size)
    done.write_text(f"{first}\n{second}")
    return first, second
