"""Typed metadata: frozen dataclasses read from and written to JSON, with every field checked.

`load(cls, data, source)` turns parsed JSON into `cls`, raising one `ZsclfError` line that names
the file and the field for anything missing or of the wrong type ("meta.json: field
'text_encoder.sha256' is missing"). Supported field types: str, int, float, bool, dict, dict[str, X], list[X],
nested dataclasses and `X | None`. A field may restrict its values with
`field(metadata={"choices": (...)})`. Unknown keys are ignored (newer writers may add some).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ZsclfError
from .fsio import read_text

T = TypeVar("T")
_JSON_NAMES = {bool: "true or false", str: "a string", int: "an integer", float: "a number",
               dict: "an object", list: "a list"}


def load(cls: type[T], data: object, source: str, prefix: str = "") -> T:
    """Build dataclass `cls` from parsed JSON `data`; `source` names the file in error messages."""
    if not isinstance(data, dict):
        where = f"field '{prefix.rstrip('.')}'" if prefix else "the top level"
        raise ZsclfError(f"{source}: {where} should be an object, not {_describe(data)}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        name = prefix + f.name
        optional = _is_optional(hints[f.name])
        if f.name not in data or (data[f.name] is None and not optional):
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ZsclfError(f"{source}: field '{name}' is missing")
            continue
        value = _convert(hints[f.name], data[f.name], source, name)
        choices = f.metadata.get("choices")
        if choices and value is not None and value not in choices:
            raise ZsclfError(f"{source}: field '{name}' is {value!r}, expected one of {', '.join(map(str, choices))}")
        values[f.name] = value
    return cls(**values)


def dump(obj: object) -> dict:
    """The JSON object for a dataclass instance (fields that are None are left out)."""
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)  # type: ignore[arg-type]
            if getattr(obj, f.name) is not None}


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value):
        return dump(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def read_json(path: Path, what: str, limit: int = 16 << 20) -> object:
    """A parsed JSON file; every problem (unreadable, not JSON, nested too deeply) is one ZsclfError naming `path`."""
    return parse_json(read_text(path, what, limit), str(path), what)


def parse_json(text: str | bytes, source: str, what: str) -> object:
    """Parsed JSON text (bytes: UTF-8); anything else (not JSON, not UTF-8, nested too deeply) is one
    ZsclfError naming `source` and `what` it was meant to be."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ZsclfError(f"{source}: {what} is not valid JSON ({reason})") from None


def read(cls: type[T], path: Path, what: str, limit: int = 16 << 20) -> T:
    """Read and check a JSON file of type `cls` (see `read_json` and `load`)."""
    return load(cls, read_json(path, what, limit), str(path))


def _is_optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def _convert(tp: Any, value: object, source: str, name: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner, value, source, name)
    if dataclasses.is_dataclass(tp):
        return load(tp, value, source, name + ".")
    if origin is list:
        _expect(list, value, source, name)
        (item,) = typing.get_args(tp) or (Any,)
        return [_convert(item, v, source, f"{name}[{i}]") for i, v in enumerate(value)]  # type: ignore[arg-type]
    if origin is dict and typing.get_args(tp):
        _expect(dict, value, source, name)
        _, item = typing.get_args(tp)
        return {k: _convert(item, v, source, f"{name}.{k}") for k, v in value.items()}  # type: ignore[union-attr]
    base = origin or tp
    if base is Any:
        return value
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    _expect(base, value, source, name)
    return value


def _expect(kind: type, value: object, source: str, name: str) -> None:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ZsclfError(f"{source}: field '{name}' should be {_JSON_NAMES.get(kind, kind.__name__)}, "
                         f"not {_describe(value)}")


def _describe(value: object) -> str:
    if value is None:
        return "null"
    for kind, text in _JSON_NAMES.items():
        if isinstance(value, kind):
            return f"{text} ({json.dumps(value)[:40]})" if kind in (str, int, float, bool) else text
    return type(value).__name__
