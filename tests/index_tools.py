"""Helpers for the index-store tests: tiny indexes whose vectors and labels both say which build made
them, a subprocess that publishes them (with the crash hook), format-1 folders, tree snapshots."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

from zsclf.index.label_index import LabelIndex, stored_vectors
from zsclf.index.layout import INDEX_FILE, LABELS_FILE, META_FILE
from zsclf.index.meta import FORMAT_VERSION, IndexMeta
from zsclf.models.registry import ModelRef

DIM = 8


def tagged_index(tag: int, n: int) -> LabelIndex:
    """n labels 'b<tag> <i>' with vectors [tag, i, 1, 0, ...]: a loaded index that mixed two builds shows it."""
    vectors = np.zeros((n, DIM), dtype=np.float32)
    vectors[:, 0], vectors[:, 1], vectors[:, 2] = tag, np.arange(n), 1
    meta = IndexMeta(format=FORMAT_VERSION, kind="flat", metric="inner_product", dim=DIM, count=n, space="text",
                     template="name", text_encoder=ModelRef("t", "abc", DIM))
    return LabelIndex.build(vectors, [f"b{tag} {i}" for i in range(n)], [f"id{i}" for i in range(n)], meta,
                            normalise=False)


def tag_of(index: LabelIndex) -> int:
    """The build an index came from; asserts that its labels, vectors and count all agree."""
    tags = {name.split()[0] for name in index.names}
    assert len(tags) == 1, f"labels of several builds: {sorted(tags)}"
    tag = int(tags.pop()[1:])
    vectors = stored_vectors(index.faiss_index)
    assert vectors is not None and len(vectors) == len(index) == index.meta.count
    assert (vectors[:, 0] == tag).all(), f"labels of build {tag}, vectors of {set(vectors[:, 0].tolist())}"
    assert (vectors[:, 1] == np.arange(len(index))).all()
    return tag


PUBLISHER = """
import sys, time
sys.path.insert(0, {tests!r})
from index_tools import tagged_index
from zsclf.index.store import save_index
folder, first, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
end = time.monotonic() + seconds
for tag in range(first, first + count):
    save_index(tagged_index(tag, 5 + (tag * 7) % 23), folder)
    if time.monotonic() > end:
        break
print(tag)
"""


def publisher(folder: Path, first: int, count: int = 1, seconds: float = 1e9, crash_at: str | None = None,
              **popen) -> subprocess.Popen:
    """A process that publishes builds first, first+1, ... (at most `count`, for at most `seconds`)."""
    env = {**os.environ}
    env.pop("ZSCLF_TEST_CRASH_AT", None)
    if crash_at:
        env["ZSCLF_TEST_CRASH_AT"] = crash_at
    code = PUBLISHER.format(tests=str(Path(__file__).parent))
    return subprocess.Popen([sys.executable, "-c", code, str(folder), str(first), str(count), str(seconds)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def write_legacy(folder: Path, n: int = 6) -> None:
    """A format-1 index folder (three files at the top), as an older zsclf wrote it."""
    import faiss

    from zsclf.core import typed_json

    index = tagged_index(99, n)
    folder.mkdir(parents=True)
    faiss.write_index(index.faiss_index, str(folder / INDEX_FILE))
    rows = "".join(f"{i}\t{n}\n" for i, n in zip(index.ids, index.names, strict=True))
    (folder / LABELS_FILE).write_text("id\tlabel\n" + rows)
    (folder / META_FILE).write_text(json.dumps(typed_json.dump(index.meta.with_(format=1))))


def foreign_app(folder: Path) -> None:
    """What the audit lost: an application folder that happens to hold a meta.json."""
    (folder / "src").mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"name": "my app"}))
    (folder / "src" / "main.py").write_text("print('hello')\n")


def fix_checksums(version: Path) -> None:
    """Record the files' present sizes and CRCs in meta.json (a damaged file that the checksums no longer see)."""
    meta = json.loads((version / META_FILE).read_text())
    for name in (INDEX_FILE, LABELS_FILE):
        data = (version / name).read_bytes()
        meta["files"][name] = {"bytes": len(data), "crc32": f"{zlib.crc32(data):08x}"}
    (version / META_FILE).write_text(json.dumps(meta))


def snapshot(folder: Path) -> dict[str, str]:
    """Every path below `folder` (itself included) with its kind and, for files, a hash of the bytes."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                out[rel] = "link " + os.readlink(path)
            elif path.is_dir() or not path.is_file():
                out[rel] = "dir" if path.is_dir() else "special"  # never read a FIFO: it would block
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
