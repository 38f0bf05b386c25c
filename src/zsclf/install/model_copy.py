"""Copying the models from a folder or URI into the models folder, all of them or none (`zsclf setup --from`).

Every file the source's manifest names is streamed (bounded memory) into a staging folder beside the
models folder, `.<models>.setup-<8 hex>.tmp/` (in ZSCLF_HOME), its sha256 computed on the way and
each file fsynced. Only when every file is there and right are they put into place:

* no models folder yet: the staging folder is renamed onto it (one step);
* an existing one: each file is renamed over its namesake, manifest.json last; the files they replace
  are kept (hard links in the staging folder) until the end and put back if a rename fails. Other files
  in the folder (cache/, models the source does not have) are left alone.

A refusal (a checksum that differs, an unreadable source file, a full or read-only disk) leaves the
models folder as it was and removes the staging folder and any folder setup made. A setup killed
during the renames leaves files that do not match the manifest: the next `zsclf setup` sees that and
installs again; the staging folder it left (our name, nothing but files) is deleted then.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from ..core import typed_json, uri
from ..core.fsio import folders_made_for, fsync_dir, os_reason
from ..errors import ZsclfError
from ..models.registry import Manifest

CHUNK = 1 << 20
MANIFEST = "manifest.json"
REPLACED = ".replaced"  # inside the staging folder: the files the new ones replace, until the end


class _Unreadable(ZsclfError):
    """A file of the source cannot be read (a model the source lacks is left out unless it is a default)."""


def copy_models(source: str, models_dir: Path, note: Callable[[str], None] | None = None) -> None:
    """Copy the manifest and every model file it names from `source` (a folder or URI) into `models_dir`,
    each checked against its sha256, all or none (see the module doc); models whose files the source lacks
    are left out, unless they are the defaults. Raises ZsclfError (nothing changed) on any problem."""
    manifest_at = uri.join(source, MANIFEST)
    raw = typed_json.parse_json(uri.read_file(manifest_at, "the model manifest", 16 << 20), manifest_at,
                                "the model manifest")
    manifest = typed_json.load(Manifest, raw, manifest_at)
    assert isinstance(raw, dict)
    if missing := [m for m in (manifest.default_image_model, manifest.default_text_model) if m not in manifest.models]:
        raise ZsclfError(f"{manifest_at}: its default model {missing[0]} is not among its models; "
                         "nothing was installed")
    real = Path(os.path.realpath(models_dir))
    with folders_made_for(models_dir, real.parent, "{target}: cannot install the models: {reason}; "
                                                   "nothing was installed"):
        _remove_stale(real)
        staging = real.parent / f".{real.name}.setup-{secrets.token_hex(4)}.tmp"
        os.mkdir(staging, 0o777)
        try:
            names = _stage(source, raw, manifest, staging, note)
            _swap_in(staging, real, names)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _stage(source: str, raw: dict, manifest: Manifest, staging: Path, note: Callable[[str], None] | None) -> list[str]:
    """Copy and check every file into `staging`, then the manifest (without the models left out); returns
    the file names, manifest.json last."""
    defaults = {manifest.default_image_model, manifest.default_text_model}
    staged: dict[str, str] = {}
    for name, entry in manifest.models.items():
        files = {f: sha for f, sha in ((entry.file, entry.sha256), (entry.classifier, entry.classifier_sha256),
                                       (entry.tokenizer, entry.tokenizer_sha256)) if f}
        try:
            for file, sha in files.items():
                _stage_file(uri.join(source, file), staging, file, sha, staged, f"model {name}")
        except _Unreadable:
            if name in defaults:
                raise
            raw["models"].pop(name)
            for file in files:
                if file not in staged:
                    (staging / file).unlink(missing_ok=True)
            if note:
                note(f"{source} lacks the files of model {name}: left out")
    with open(staging / MANIFEST, "xb") as fh:
        fh.write((json.dumps(raw, indent=2) + "\n").encode())
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(staging)
    return [*staged, MANIFEST]


def _stage_file(location: str, staging: Path, file: str, sha256: str, staged: dict[str, str], what: str) -> None:
    """Stream one file into `staging`, checking its sha256; a file two models share is copied once."""
    if file in staged and staged[file] == sha256:
        return
    if file != Path(file).name or file in (".", "..", MANIFEST, REPLACED) or file in staged:
        raise ZsclfError(f"{location}: {what} names file {file!r}, which is not a plain file name of its own "
                         "in the models folder; nothing was installed")
    digest = hashlib.sha256()
    try:
        source = uri.open_input(location)
    except OSError as exc:
        raise _unreadable(location, what, exc) from None
    with source, open(staging / file, "xb") as out:
        while chunk := _read(source, location, what):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if sha256 and digest.hexdigest() != sha256:
        raise ZsclfError(f"{location}: sha256 differs from its manifest; nothing was installed")
    staged[file] = sha256


def _read(source, location: str, what: str) -> bytes:
    try:
        return source.read(CHUNK)
    except OSError as exc:
        raise _unreadable(location, what, exc) from None


def _unreadable(location: str, what: str, exc: OSError) -> _Unreadable:
    return _Unreadable(f"{location}: cannot read {what}: {os_reason(exc)}; nothing was installed")


def _swap_in(staging: Path, models_dir: Path, names: list[str]) -> None:
    """Put the staged files into place (see the module doc); on failure the folder is as it was."""
    if not os.path.lexists(models_dir):
        os.rename(staging, models_dir)
        fsync_dir(models_dir.parent)
        return
    replaced = staging / REPLACED
    os.mkdir(replaced)
    kept = {n for n in names if os.path.lexists(models_dir / n) and not _is_folder(models_dir / n)}
    for name in kept:
        os.link(models_dir / name, replaced / name, follow_symlinks=False)
    done: list[str] = []
    try:
        for name in names:
            os.replace(staging / name, models_dir / name)
            done.append(name)
        fsync_dir(models_dir)
    except BaseException:
        for name in reversed(done):
            if name in kept:
                os.replace(replaced / name, models_dir / name)
            else:
                os.unlink(models_dir / name)
        raise


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _remove_stale(models_dir: Path) -> None:
    """Delete staging folders a killed setup left beside `models_dir`: our name, nothing but files inside."""
    pattern = re.compile(re.escape(f".{models_dir.name}.setup-") + r"[0-9a-f]{8}\.tmp")
    try:
        names = os.listdir(models_dir.parent)
    except OSError:
        return
    for name in names:
        path = models_dir.parent / name
        if pattern.fullmatch(name) and _is_folder(path) and _only_files(path):
            shutil.rmtree(path, ignore_errors=True)


def _only_files(folder: Path) -> bool:
    try:
        return all((e.name == REPLACED and e.is_dir(follow_symlinks=False) and _only_files(Path(e.path)))
                   or not e.is_dir(follow_symlinks=False) for e in os.scandir(folder))
    except OSError:
        return False
