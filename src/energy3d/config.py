"""Frozen-dataclass configs with strict loading, and the one experiment loader.

Configs are frozen dataclasses (possibly nested). :func:`from_dict` builds one from a plain dict
(e.g. parsed JSON), rejects unknown keys with an :class:`~energy3d.errors.InputError` that names
them and lists the valid ones, and checks every value against its field's annotation (the message
names the key path, the expected type and the value: ``configs/x.json: train.epochs: expected an
integer, got 'three'``); :func:`to_dict` is its inverse.

Experiments (``configs/*/*.json``) carry a ``"kind"`` (``"lift"``, ``"voxel"``; none means
``"lift"``). :func:`load_experiment` reads one into its dataclass, with overrides given as a nested
dict, which :func:`parse_overrides` makes from the command line's ``--set a.b=VALUE`` items and
:func:`merge_overrides` lays over the file's values.
"""

from __future__ import annotations

import dataclasses
import json
import types
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

    Every value is checked against its field's annotation (:func:`check_value`): ``int`` (not
    ``bool``), ``float`` (an integer is accepted and converted), ``bool``, ``str``, ``tuple`` /
    ``list`` (of one item type, or of fixed length), ``X | None`` and other unions, ``Literal``,
    nested dataclasses (a JSON object). JSON lists become tuples for tuple fields.

    Args:
        cls: a (frozen) dataclass.
        data: its values by field name (a parsed JSON object); missing keys keep their defaults.
        where: where the values come from, the start of every message (e.g. the file name).

    Raises:
        InputError: on an unknown key (naming it and the valid keys), a section that is not an
            object, or a value of the wrong type, naming the key path, the expected type and the
            value, e.g. ``configs/x.json: train.epochs: expected an integer, got 'three'``.
    """
    return _build(cls, data, where, (), build=True)


def check_dict(cls: type, data: dict, *, where: str = "config") -> None:
    """Check a partial ``data`` (e.g. overrides) against ``cls``'s fields without building it.

    Same checks and messages as :func:`from_dict` (unknown keys, value types), but fields that
    ``data`` leaves out are not needed and the dataclasses' own ``__post_init__`` checks do not run.

    Raises:
        InputError: as :func:`from_dict`.
    """
    _build(cls, data, where, (), build=False)


def check_value(tp, value, *, where: str = "config", key: str = ""):
    """Check ``value`` against the type annotation ``tp``; return it converted (lists -> tuples, int -> float).

    Args:
        tp: a type annotation: ``int``, ``float``, ``bool``, ``str``, ``tuple`` / ``tuple[X, ...]`` /
            ``tuple[X, Y]``, ``list[X]``, ``dict``, ``X | None`` or another union, ``Literal[...]``, a
            dataclass, or ``Any`` (anything passes).
        value: the value (parsed JSON).
        where: where it comes from, for the message.
        key: its dotted key path, for the message.

    Raises:
        InputError: ``"{where}: {key}: expected {type}, got {value!r}"``.

    Example:
        >>> check_value(float, 3)
        3.0
        >>> check_value(tuple[int, int], [64, 48])
        (64, 48)
    """
    return _value(tp, value, where, tuple(key.split(".")) if key else (), True)


def _at(where: str, path: tuple) -> str:
    return f"{where}: {'.'.join(path)}" if path else where


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _build(cls, data, where: str, path: tuple, build: bool):
    if not isinstance(data, dict):
        raise InputError(f"{_at(where, path)}: expected an object (a mapping of keys to values), "
                         f"got {type(data).__name__} {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            f"{_at(where, path)}: unknown key(s) {', '.join(map(repr, unknown))}; valid keys: {', '.join(sorted(fields))}"
        )
    kwargs = {name: _value(hints[name], value, where, (*path, name), build) for name, value in data.items()}
    return cls(**kwargs) if build else kwargs


class _Mismatch(Exception):
    """``value`` does not fit the annotation (raised inside :func:`_convert`, turned into one message)."""


def _describe(tp) -> str:
    """Words for an annotation: ``int`` -> "an integer", ``tuple[float, float]`` -> "a list of 2 numbers"."""
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null",
             dict: "an object", tuple: "a list", list: "a list"}
    if tp in words:
        return words[tp]
    if dataclasses.is_dataclass(tp):
        return f"an object ({tp.__name__})"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (tuple, list):
        plural = {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {plural.get(args[0], _describe(args[0]))}" if args else "a list"
        if args and len(set(args)) == 1:
            return f"a list of {len(args)} {plural.get(args[0], _describe(args[0]))}"
        return f"a list of {len(args)} items ({', '.join(_describe(a) for a in args)})"
    return getattr(tp, "__name__", str(tp))


def _value(tp, value, where: str, path: tuple, build: bool):
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where, path, build)
    try:
        return _convert(tp, value, where, path, build)
    except _Mismatch:
        raise InputError(f"{_at(where, path)}: expected {_describe(tp)}, got {_show(value)}") from None


def _convert(tp, value, where: str, path: tuple, build: bool):
    if tp is typing.Any or tp is object:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if tp in (tuple, list):
        if isinstance(value, (list, tuple)):
            return tp(value)
        raise _Mismatch
    if tp is dict:
        if isinstance(value, dict):
            return value
        raise _Mismatch
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for arm in args:  # in the annotation's order: the first arm that fits wins
            try:
                return _value(arm, value, where, path, build)
            except InputError:
                if dataclasses.is_dataclass(arm) and isinstance(value, dict):
                    raise  # the object was meant for this arm: its own message is the useful one
        raise _Mismatch
    if origin is typing.Literal:
        if any(type(a) is type(value) and a == value for a in args):  # True is not 1
            return value
        raise _Mismatch
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        if not args:
            return origin(value)
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            item = args[0]
            return origin(_value(item, v, where, (*path[:-1], f"{path[-1]}[{i}]") if path else (f"[{i}]",), build)
                          for i, v in enumerate(value))
        if len(value) != len(args):
            raise _Mismatch
        return tuple(_value(a, v, where, (*path[:-1], f"{path[-1]}[{i}]") if path else (f"[{i}]",), build)
                     for i, (a, v) in enumerate(zip(args, value)))
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    return value  # an annotation this checker does not know: accepted as it is


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

    Overrides are checked on their own first (:func:`check_dict`), so a wrong ``--set`` value is
    reported as ``--set: train.epochs: ...`` rather than as the file's.

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
        check_dict(cls, overrides, where="--set")  # a bad override is named as such, not as the file's
        d = merge_overrides(d, overrides)
    return from_dict(cls, d, where=str(path))
