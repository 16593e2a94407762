"""Frozen-dataclass configs with strict loading.

Configs are frozen dataclasses (possibly nested). :func:`from_dict` builds one from a plain dict
(e.g. parsed JSON) and rejects unknown keys with an :class:`~energy3d.errors.InputError` that
names them and lists the valid ones; :func:`to_dict` is its inverse.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

from energy3d.errors import InputError

T = TypeVar("T")


def to_dict(cfg: Any) -> dict:
    """Convert a (nested) dataclass config to a JSON-serialisable dict."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            v = to_dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def from_dict(cls: type[T], data: dict, *, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclass fields.

    Raises:
        InputError: on an unknown key (naming it and the valid keys) or a non-dict section.
    """
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid keys: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            value = from_dict(tp, value, where=f"{where}.{name}")
        elif isinstance(value, list) and typing.get_origin(tp) is tuple:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def load_json(path: str | Path) -> dict:
    """Read a JSON file, turning missing or malformed files into one clear :class:`InputError`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: not valid JSON ({e})") from None
