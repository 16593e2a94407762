import dataclasses
import json

import pytest
import torch

from energy3d.errors import InputError
from energy3d.tasks.lift import LiftExperiment, LiftingTask, load_lifter, predict
from energy3d.models.lifter import LifterConfig
from energy3d.train.checkpoint import FORMAT_VERSION, save_checkpoint
from energy3d.train.loop import TrainConfig, fit
from helpers import synthetic_lifting_set


def _exp(**train):
    train = {"epochs": 2, "batch_size": 32, "checkpoint_every": 3, "seed": 3, **train}
    return LiftExperiment(name="t", model=LifterConfig(type="ige", width=16, blocks=1, steps=2, energy_hidden=16),
                          train=TrainConfig(**train), val_limit=64)


@pytest.fixture(scope="module")
def sets():
    return synthetic_lifting_set(256, seed=0), synthetic_lifting_set(64, seed=1)


def _task(sets, exp=None):
    return LiftingTask(exp or _exp(), train_set=sets[0], val_set=sets[1])


@pytest.mark.parametrize("scalar_lr_mult", [1.0, 30.0])
def test_interrupted_training_resumes_to_the_same_result(sets, tmp_path, scalar_lr_mult):
    def _task(sets):
        return LiftingTask(_exp(scalar_lr_mult=scalar_lr_mult), train_set=sets[0], val_set=sets[1])

    a = _task(sets)
    fit(a, a.exp.train, tmp_path / "full", resume=False, progress=False)
    b = _task(sets)
    r = fit(b, b.exp.train, tmp_path / "cut", resume=False, progress=False, stop_after_batches=5)
    assert r["stopped"] and r["batch"] == 5
    c = _task(sets)  # a new process would build a fresh task and resume from disk
    fit(c, c.exp.train, tmp_path / "cut", resume=True, progress=False)
    sa, sc = a.model.state_dict(), c.model.state_dict()
    for k in sa:
        assert torch.allclose(sa[k].float(), sc[k].float(), atol=1e-6), k
    hist = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert [h["epoch"] for h in hist["history"]] == [1, 2]


def test_scalar_parameters_train_at_their_own_learning_rate(sets, tmp_path):
    """The inner optimiser's η, c, m move ~scalar_lr_mult times further; tensors keep the base rate."""
    moved = {}
    for mult in (1.0, 30.0):
        t = _task(sets, _exp(scalar_lr_mult=mult, epochs=1))
        opt0 = {k: v.detach().clone() for k, v in t.model.named_parameters()}
        fit(t, t.exp.train, tmp_path / f"m{mult}", resume=False, progress=False)
        moved[mult] = {k: (v.detach() - opt0[k]).abs().max().item() for k, v in t.model.named_parameters()}
    for name in ("optimizer.lr", "optimizer.clip", "optimizer.momentum"):
        assert moved[30.0][name] > 10 * moved[1.0][name], name
    assert moved[30.0]["init.inp.0.weight"] < 3 * moved[1.0]["init.inp.0.weight"]


def test_checkpoint_round_trip_and_metadata(sets, tmp_path):
    t = _task(sets)
    fit(t, t.exp.train, tmp_path / "run", resume=False, progress=False)
    model, meta = load_lifter(tmp_path / "run" / "best.json")
    x = sets[1].normalized()
    t.model.eval()
    assert torch.allclose(predict(model, x), predict(t.model, x), atol=1e-6)
    assert meta["model_type"] == "ige_lifter"
    assert meta["layouts"]["output"]["joints"][0] == "Hip"
    assert "metres" in meta["units"]["output"] and "non-commercial" in meta["license"]
    assert "validation" in meta["metrics"]
    assert not any(p.suffix == ".pt" for p in (tmp_path / "run").iterdir())  # no pickles


def test_checkpoint_errors(sets, tmp_path):
    t = _task(sets)
    path = save_checkpoint(tmp_path / "m", t.model, {"model_type": "ige_lifter", "config": {}})
    meta = json.loads(path.read_text())
    meta["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="newer"):
        load_lifter(path)
    meta["format_version"] = FORMAT_VERSION
    meta["model_type"] = "voxel_ige"
    path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="voxel_ige"):
        load_lifter(path)
    path.write_text("{not json")
    with pytest.raises(InputError, match="corrupt"):
        load_lifter(path)
    with pytest.raises(InputError, match="not found"):
        load_lifter(tmp_path / "missing.json")
    # corrupt weights
    good = save_checkpoint(tmp_path / "g", t.model, t.meta())
    (tmp_path / "g.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError, match="corrupt checkpoint weights"):
        load_lifter(good)


def test_unknown_config_key_is_named(tmp_path):
    from energy3d.tasks.lift import load_lift_experiment

    p = tmp_path / "c.json"
    p.write_text(json.dumps({"name": "x", "model": {"type": "ige", "stepz": 4}}))
    with pytest.raises(InputError, match="'stepz'"):
        load_lift_experiment(p)


def test_shipped_lift_configs_load_and_other_kinds_are_refused(tmp_path):
    from pathlib import Path

    from energy3d.tasks.lift import load_lift_experiment

    root = Path(__file__).resolve().parents[2] / "configs" / "lift"
    names = sorted(root.glob("*.json"))
    assert names
    for p in names:
        assert load_lift_experiment(p).name == p.stem
    p = tmp_path / "v.json"
    p.write_text(json.dumps({"kind": "voxel", "name": "x"}))
    with pytest.raises(InputError, match="expected 'lift'"):
        load_lift_experiment(p)


def test_training_curve_records_the_mean_loss_every_log_every_batches(sets, tmp_path):
    """history.json's curve: one record per ``log_every`` batches, each the mean of the losses logged since
    the previous record (checked against the per-batch losses recorded by a wrapped task)."""
    seen = []

    class Spy(LiftingTask):
        def loss(self, net, batch):
            total, parts = super().loss(net, batch)
            seen.append(float(total.detach()))
            return total, parts

    t = Spy(_exp(epochs=1, log_every=2), train_set=sets[0], val_set=sets[1])
    fit(t, t.exp.train, tmp_path / "curve", resume=False, progress=False)
    curve = json.loads((tmp_path / "curve" / "history.json").read_text())["curve"]
    nb = len(seen)
    assert [c["batch"] for c in curve] == list(range(2, nb + 1, 2))
    for c in curve:
        b = c["batch"]
        assert c["loss"] == pytest.approx(sum(seen[b - 2:b]) / 2, rel=1e-6)
        assert "final" in c and "seconds" in c


def test_init_from_an_ige_checkpoint_fine_tunes_the_whole_model(sets, tmp_path):
    """An IGE checkpoint as init_from loads every tensor (energy statistics included), not only the baseline."""
    t = _task(sets)
    fit(t, t.exp.train, tmp_path / "first", resume=False, progress=False)
    exp = dataclasses.replace(_exp(epochs=1), init_from=str(tmp_path / "first" / "best"))
    u = _task(sets, exp)
    ref, _ = load_lifter(tmp_path / "first" / "best.json")
    for k, v in ref.state_dict().items():
        assert torch.equal(u.model.state_dict()[k], v), k
    exp_other = LiftExperiment(name="t", model=LifterConfig(type="ige", width=16, blocks=1, steps=3, energy_hidden=16),
                               train=TrainConfig(epochs=1), val_limit=64, init_from=exp.init_from)
    with pytest.raises(InputError, match="same model"):
        _task(sets, exp_other)
