"""Frozen-dataclass configs with strict loading, and the one experiment loader.

Configs are frozen dataclasses (possibly nested). :func:`from_dict` builds one from a plain dict
(e.g. parsed JSON) and rejects unknown keys with an :class:`~energy3d.errors.InputError` that
names them and lists the valid ones; :func:`to_dict` is its inverse.

Experiments (``configs/*/*.json``) carry a ``"kind"`` (``"lift"``, ``"voxel"``; none means
``"lift"``). :func:`load_experiment` reads one into its dataclass, with overrides given as a nested
dict, which :func:`parse_overrides` makes from the command line's ``--set a.b=VALUE`` items and
:func:`merge_overrides` lays over the file's values.
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


def merge_overrides(base: dict, over: dict) -> dict:
    """``base`` with ``over`` laid on top, recursing into sections that are dicts in both."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge_overrides(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_overrides(items) -> dict:
    """``["train.epochs=3", "model.steps=8"]`` -> ``{"train": {"epochs": 3}, "model": {"steps": 8}}``.

    Values are parsed as JSON when they are JSON (numbers, ``true``, lists, quoted strings), else
    kept as strings; the types are checked later against the config's fields.

    Raises:
        InputError: an item without ``=`` or with an empty key part.
    """
    out: dict = {}
    for it in items or []:
        if "=" not in it:
            raise InputError(f"--set expects KEY=VALUE, got {it!r}")
        key, val = it.split("=", 1)
        parts = key.split(".")
        if not all(parts):
            raise InputError(f"--set {it!r}: empty key part in {key!r}")
        try:
            v = json.loads(val)
        except json.JSONDecodeError:
            v = val
        d = out
        for p in parts[:-1]:
            nxt = d.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise InputError(f"--set {it!r}: {p!r} was already given a value")
            d = nxt
        d[parts[-1]] = v
    return out


def experiment_kind(path: str | Path) -> str:
    """The ``"kind"`` of an experiment JSON (``"lift"`` when it names none)."""
    d = load_json(path)
    if not isinstance(d, dict):
        raise InputError(f"{path}: an experiment config must be a JSON object, got {type(d).__name__}")
    kind = d.get("kind", "lift")
    if not isinstance(kind, str):
        raise InputError(f"{path}: \"kind\" must be a string, got {kind!r}")
    return kind


def load_experiment(path: str | Path, cls: type[T], kind: str, overrides: dict | None = None) -> T:
    """Read an experiment JSON of ``kind`` into dataclass ``cls``, with optional nested overrides.

    Raises:
        InputError: missing or malformed file, a top level that is not an object, another kind,
            unknown keys or values of the wrong type (see :func:`from_dict`).
    """
    d = load_json(path)
    if not isinstance(d, dict):
        raise InputError(f"{path}: an experiment config must be a JSON object, got {type(d).__name__}")
    d = dict(d)
    got = d.pop("kind", "lift")
    if got != kind:
        raise InputError(f"{path}: experiment kind is {got!r}, expected {kind!r}")
    if overrides:
        d = merge_overrides(d, overrides)
    return from_dict(cls, d, where=str(path))
