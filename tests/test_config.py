"""Strict config loading: unknown keys and values of the wrong type name the key path; every bundled config loads."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from energy3d.config import check_dict, check_value, from_dict, load_experiment, to_dict
from energy3d.errors import InputError
from energy3d.tasks.fit import load_any_experiment
from energy3d.tasks.lift import LiftExperiment

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").rglob("*.json"))


@dataclass(frozen=True)
class Inner:
    n: int = 1
    pair: tuple[float, float] = (0.0, 1.0)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    rate: float = 0.5
    flag: bool = False
    limit: int | None = None
    items: tuple = ()
    ints: tuple[int, ...] = ()
    bg: str | tuple = "white"
    mode: Literal["a", "b"] = "a"
    inner: Inner = field(default_factory=Inner)


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(REPO / "configs")) for p in CONFIGS])
def test_every_bundled_config_loads(path):
    kind, exp = load_any_experiment(path)
    # a config's name (its run folder runs/NAME) is its file name, with the folder as a suffix in subfolders
    sub = path.parent.relative_to(REPO / "configs").parts[1:]
    assert kind in ("lift", "voxel", "pose") and exp.name == "-".join((path.stem, *sub))


def test_config_names_are_unique():
    names = [load_any_experiment(p)[1].name for p in CONFIGS]
    assert len(names) == len(set(names))


def test_config_count_is_what_the_folder_holds():
    assert len(CONFIGS) >= 30  # the parametrized test above must not pass vacuously


def test_values_are_converted():
    cfg = from_dict(Outer, {"rate": 2, "items": [1, 2], "ints": [3, 4], "bg": [1, 2, 3], "limit": None,
                            "inner": {"pair": [1, 2]}, "mode": "b"})
    assert cfg.rate == 2.0 and isinstance(cfg.rate, float)
    assert cfg.items == (1, 2) and cfg.ints == (3, 4) and cfg.bg == (1, 2, 3) and cfg.mode == "b"
    assert cfg.inner.pair == (1.0, 2.0) and all(isinstance(v, float) for v in cfg.inner.pair)
    assert from_dict(Outer, to_dict(cfg)) == cfg
    assert check_value(int | None, 3) == 3 and check_value(tuple[int, int], [64, 48]) == (64, 48)


@pytest.mark.parametrize("data,message", [
    ({"inner": {"n": "three"}}, "cfg.json: inner.n: expected an integer, got 'three'"),
    ({"inner": {"n": True}}, "cfg.json: inner.n: expected an integer, got True"),       # bool is not an int
    ({"inner": {"n": 2.5}}, "cfg.json: inner.n: expected an integer, got 2.5"),
    ({"rate": "fast"}, "cfg.json: rate: expected a number, got 'fast'"),
    ({"rate": False}, "cfg.json: rate: expected a number, got False"),
    ({"flag": 1}, "cfg.json: flag: expected true or false, got 1"),
    ({"name": 3}, "cfg.json: name: expected a string, got 3"),
    ({"limit": "none"}, "cfg.json: limit: expected an integer or null, got 'none'"),
    ({"items": 5}, "cfg.json: items: expected a list, got 5"),
    ({"ints": [1, "2"]}, "cfg.json: ints[1]: expected an integer, got '2'"),
    ({"inner": {"pair": [1, 2, 3]}}, "cfg.json: inner.pair: expected a list of 2 numbers, got [1, 2, 3]"),
    ({"bg": 7}, "cfg.json: bg: expected a string or a list, got 7"),
    ({"mode": "c"}, "cfg.json: mode: expected one of 'a', 'b', got 'c'"),
    ({"inner": 3}, "cfg.json: inner: expected an object"),
    ({"inner": {"m": 1}}, "cfg.json: inner: unknown key(s) 'm'; valid keys: n, pair"),
])
def test_wrong_values_name_key_type_and_value(data, message):
    with pytest.raises(InputError) as e:
        from_dict(Outer, data, where="cfg.json")
    assert str(e.value).startswith(message), str(e.value)


def test_top_level_must_be_an_object():
    with pytest.raises(InputError, match=r"cfg.json: expected an object .* got list \[1, 2\]"):
        from_dict(Outer, [1, 2], where="cfg.json")


def test_partial_check_of_overrides_and_experiment_loader(tmp_path):
    check_dict(Outer, {"inner": {"n": 4}})  # partial: the rest is not needed
    with pytest.raises(InputError, match=r"^--set: inner\.n: expected an integer, got 'abc'$"):
        check_dict(Outer, {"inner": {"n": "abc"}}, where="--set")
    cfg = REPO / "configs" / "lift" / "tiny-ige2.json"
    with pytest.raises(InputError, match=r"^--set: train\.epochs: expected an integer, got 'abc'$"):
        load_experiment(cfg, LiftExperiment, "lift", {"train": {"epochs": "abc"}})
    exp = load_experiment(cfg, LiftExperiment, "lift", {"train": {"epochs": 3}, "data": {"fps": 5}})
    assert exp.train.epochs == 3 and exp.data.fps == 5.0 and isinstance(exp.data.fps, float)
    bad = tmp_path / "x.json"
    bad.write_text(cfg.read_text().replace('"epochs": 2', '"epochs": "three"'))
    with pytest.raises(InputError) as e:
        load_experiment(bad, LiftExperiment, "lift")
    assert str(e.value) == f"{bad}: train.epochs: expected an integer, got 'three'"
