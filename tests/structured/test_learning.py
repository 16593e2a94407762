"""Learning half of Kinauer et al. (energy3d.structured.learning): candidates, edge terms, inference,
structured-SVM hinge (against finite differences and brute force), deep supervision, bad input."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from energy3d.errors import InputError
from energy3d.structured import all_scores, part_graph, pose_loss, solve_exhaustive
from energy3d.structured import learning as L

pytestmark = pytest.mark.usefixtures("one_thread")
J = 17


def fake_out(B=1, D=2, H=2, W=2, E=0, crop=16, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return SimpleNamespace(
        logits=torch.randn(B, J, D, H, W, generator=g, dtype=dtype),
        residual=torch.randn(B, J, 3, D, H, W, generator=g, dtype=dtype),
        pair=torch.randn(B, E, 3, H, W, generator=g, dtype=dtype) * 3,
        heat2d=torch.randn(B, J, H, W, generator=g, dtype=dtype),
        crop=crop)


def model_for(topology, reverse=False, c=0.05, dtype=torch.float64):
    e = part_graph(topology).as_array()
    if reverse:
        e = e[:, ::-1].copy()
    return SimpleNamespace(edges=torch.as_tensor(e), c=torch.full((len(e), 3), c, dtype=dtype))


def test_candidates_closed_form_and_force():
    out = fake_out(D=4, H=4, W=4, crop=32)  # cell 8 px in u, v and w
    out.logits.fill_(-5.0)
    out.logits[0, 3, 2, 1, 3] = 4.0   # (d, h, w) = (2, 1, 3)
    out.logits[0, 3, 0, 0, 0] = 3.0
    out.residual[0, 3, :, 2, 1, 3] = torch.tensor([1.5, -2.0, 0.25], dtype=torch.float64)
    cands = L.candidates(out, 2)
    assert cands.positions.shape == (1, J, 2, 3) and cands.unaries.shape == (1, J, 2)
    centre = torch.tensor([3.5 * 8, 1.5 * 8, 2.5 * 8], dtype=torch.float64)
    assert torch.allclose(cands.positions[0, 3, 0], centre + torch.tensor([1.5, -2.0, 0.25], dtype=torch.float64))
    assert int(cands.voxel[0, 3, 0]) == 2 * 16 + 1 * 4 + 3 and int(cands.voxel[0, 3, 1]) == 0
    assert torch.allclose(cands.unaries[0, 3], torch.nn.functional.logsigmoid(torch.tensor([4.0, 3.0], dtype=torch.float64)))
    assert torch.allclose(L.candidates(out, 2, unary="logit").unaries[0, 3], torch.tensor([4.0, 3.0], dtype=torch.float64))
    # force: the true voxel (d, h, w) = (3, 3, 3) is not among the top 2 of joint 3 -> replaces the worst
    truth = torch.full((1, J, 3), 4.0)
    truth[0, 3] = torch.tensor([30.0, 29.0, 31.0])
    fc = L.candidates(out, 2, force=truth)
    assert int(fc.voxel[0, 3, fc.true_index[0, 3]]) == 3 * 16 + 3 * 4 + 3
    assert int(fc.voxel[0, 3, 0]) == 2 * 16 + 1 * 4 + 3 and int(fc.true_index[0, 3]) == 1
    # already a candidate: kept where it is
    truth[0, 3] = torch.tensor([3.5 * 8, 1.5 * 8, 2.5 * 8])
    fc = L.candidates(out, 2, force=truth)
    assert int(fc.true_index[0, 3]) == 0 and int(fc.voxel[0, 3, 1]) == 0
    # joints outside the volume are clamped to the border voxel
    assert int(L.true_voxel(out, torch.full((1, J, 3), -50.0))[0, 0]) == 0
    assert int(L.true_voxel(out, torch.full((1, J, 3), 500.0))[0, 0]) == 63


def test_edge_terms_orientation_and_soft_argmax():
    topo = "stick_figure"
    E = part_graph(topo).num_edges
    out = fake_out(B=2, H=3, W=3, E=E)
    out.heat2d.fill_(-60.0)
    out.heat2d[:, :, 1, 2] = 60.0  # every joint's 2D maximum at (h, w) = (1, 2): soft-argmax ~ one-hot
    edges, c, mu = L.edge_terms(out, model_for(topo), topo)
    assert np.array_equal(edges, part_graph(topo).as_array()) and c.shape == (E, 3) and mu.shape == (2, E, 3)
    assert torch.allclose(mu, out.pair[:, :, :, 1, 2], atol=1e-9)
    # the model stores every edge reversed: same terms, mu flips sign
    _, _, mu_r = L.edge_terms(out, model_for(topo, reverse=True), topo)
    assert torch.allclose(mu_r, -out.pair[:, :, :, 1, 2], atol=1e-9)
    # two equal peaks of the child's heatmap: mu is the average of the map there
    j = int(part_graph(topo).as_array()[0, 1])
    out.heat2d[0, j].fill_(-60.0)
    out.heat2d[0, j, 0, 0] = out.heat2d[0, j, 2, 1] = 5.0
    _, _, mu2 = L.edge_terms(out, model_for(topo), topo)
    assert torch.allclose(mu2[0, 0], 0.5 * (out.pair[0, 0, :, 0, 0] + out.pair[0, 0, :, 2, 1]), atol=1e-9)
    # general softmax read-out
    out.heat2d = torch.randn_like(out.heat2d)
    w = torch.softmax(out.heat2d[1, j].reshape(-1), 0)
    _, _, mu3 = L.edge_terms(out, model_for(topo), topo)
    assert torch.allclose(mu3[1, 0], (out.pair[1, 0].reshape(3, -1) * w).sum(-1))
    # unary: no edges
    e0, c0, m0 = L.edge_terms(out, model_for(topo), "unary")
    assert e0.shape == (0, 2) and c0.shape == (0, 3) and m0.shape == (2, 0, 3)


@pytest.mark.parametrize("topology", ["unary", "center_star", "stick_figure", "two_hop"])
def test_infer_equals_brute_force(topology):
    E = 0 if topology == "unary" else part_graph(topology).num_edges
    out = fake_out(B=2, D=2, H=2, W=1, E=E, crop=16, seed=3)
    model = model_for("stick_figure" if topology == "unary" else topology, c=0.02)
    if topology == "unary":
        model = SimpleNamespace(edges=torch.zeros(0, 2, dtype=torch.long), c=torch.zeros(0, 3))
    res = L.infer(out, model, topology, 2)
    assert res.poses.shape == (2, J, 3) and res.certified.all()
    cands = L.candidates(out, 2)
    edges, c, mu = L.edge_terms(out, model, topology)
    for b in range(2):
        prob = L.build_problem(cands, b, edges, c, mu)
        best = solve_exhaustive(prob)
        assert prob.score(res.configs[b]) == pytest.approx(best.score, abs=1e-9)
        assert np.allclose(res.poses[b], prob.pose(res.configs[b]))
    if topology == "unary":
        assert np.array_equal(res.configs, np.zeros((2, J), np.int64))  # candidates are sorted by logit


def _ssvm_setup(topology="stick_figure", seed=0):
    E = part_graph(topology).num_edges
    out = fake_out(B=2, D=2, H=2, W=1, E=E, crop=16, seed=seed)
    g = torch.Generator().manual_seed(seed + 7)
    truth = torch.rand(2, J, 3, generator=g, dtype=torch.float64) * 16
    c_raw = torch.randn(E, 3, generator=g, dtype=torch.float64) * 0.3 - 3.0
    return out, truth, c_raw


def _loss(out, truth, topology, c_raw, k, n=2, w=1.0):
    model = SimpleNamespace(edges=torch.as_tensor(part_graph(topology).as_array()),
                            c=torch.nn.functional.softplus(c_raw))
    return L.ssvm_loss(out, model, truth, topology, n=n, k=k, margin_weight=w)


def test_ssvm_gradient_matches_finite_differences(monkeypatch):
    """Directional derivatives in float64; Delta (the task loss) is a constant of each configuration, so
    the finite differences hold it at its unperturbed value (the configurations stay fixed for eps)."""
    import dataclasses

    frozen = {}
    real = L.most_violated

    def frozen_delta(problem, gt, **kw):
        mv = real(problem, gt, **kw)
        losses = [frozen.setdefault(tuple(cfg) + (float(gt.sum()),), loss) for cfg, loss in zip(mv.configs, mv.losses)]
        return dataclasses.replace(mv, losses=np.asarray(losses))

    monkeypatch.setattr(L, "most_violated", frozen_delta)
    topo = "stick_figure"
    out, truth, c_raw = _ssvm_setup(topo)
    leaves = [out.logits, out.residual, out.pair, out.heat2d, c_raw]
    for t in leaves:
        t.requires_grad_(True)
    loss, parts = _loss(out, truth, topo, c_raw, k=5)
    assert loss.item() > 0
    grads = torch.autograd.grad(loss, leaves)
    g = torch.Generator().manual_seed(1)
    for name, t, gr in zip(["logits", "residual", "pair", "heat2d", "c_raw"], leaves, grads):
        assert gr.abs().sum() > 0, name
        v = torch.randn(t.shape, generator=g, dtype=torch.float64)
        eps = 1e-6
        with torch.no_grad():
            t += eps * v
            fp = _loss(out, truth, topo, c_raw, k=5)[0].double().item()
            t -= 2 * eps * v
            fm = _loss(out, truth, topo, c_raw, k=5)[0].double().item()
            t += eps * v
        fd = (fp - fm) / (2 * eps)
        assert (gr * v).sum().item() == pytest.approx(fd, rel=1e-5, abs=1e-7), name


def test_ssvm_double_precision_gradient_fixed_configs():
    """Float64 directional derivative of the hinge with the K configurations held fixed."""
    topo = "two_hop"
    out, truth, c_raw = _ssvm_setup(topo, seed=2)
    model = SimpleNamespace(edges=torch.as_tensor(part_graph(topo).as_array()), c=None)
    cands = L.candidates(out, 2, force=truth)
    edges = part_graph(topo).as_array()
    model.c = torch.nn.functional.softplus(c_raw)
    _, c, mu = L.edge_terms(out, model, topo)
    from energy3d.structured import most_violated, score_torch
    prob = L.build_problem(cands, 0, edges, c, mu)
    mv = most_violated(prob, truth[0].numpy(), k=6)

    def f(pos, un, cr, m):
        s = score_torch(pos, un, edges, torch.nn.functional.softplus(cr), m, torch.as_tensor(mv.configs))
        s0 = score_torch(pos, un, edges, torch.nn.functional.softplus(cr), m, cands.true_index[0])
        return torch.relu(s + torch.as_tensor(mv.losses) - s0).mean()

    args = [cands.positions[0].detach().clone(), cands.unaries[0].detach().clone(), c_raw.detach().clone(),
            mu[0].detach().clone()]
    assert torch.autograd.gradcheck(f, [a.requires_grad_(True) for a in args], eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("topology", ["unary", "stick_figure", "two_hop"])
def test_ssvm_equals_brute_force_hinge(topology):
    k = 7
    tg = "stick_figure" if topology == "unary" else topology
    out, truth, c_raw = _ssvm_setup(tg, seed=4)
    if topology == "unary":
        out.pair = out.pair[:, :0]
        model = SimpleNamespace(edges=torch.zeros(0, 2, dtype=torch.long), c=torch.zeros(0, 3, dtype=torch.float64))
        loss, _ = L.ssvm_loss(out, model, truth, topology, n=2, k=k)
    else:
        loss, _ = _loss(out, truth, topology, c_raw, k=k)
        model = SimpleNamespace(edges=torch.as_tensor(part_graph(tg).as_array()),
                                c=torch.nn.functional.softplus(c_raw))
    cands = L.candidates(out, 2, force=truth)
    edges, c, mu = L.edge_terms(out, model, topology)
    want = []
    for b in range(2):
        prob = L.build_problem(cands, b, edges, c, mu)
        configs, scores = all_scores(prob)
        aug = scores + pose_loss(truth[b].numpy(), prob.pose(configs))
        top = np.sort(aug)[::-1][:k]
        s_gt = prob.score(cands.true_index[b].numpy())
        want.append(np.maximum(0.0, top - s_gt).mean())
    assert loss.item() == pytest.approx(float(np.mean(want)), rel=1e-5, abs=1e-5)


def test_ssvm_zero_when_truth_wins_by_margin():
    topo = "stick_figure"
    out, truth, c_raw = _ssvm_setup(topo)
    # the true voxel gets a huge logit, every other one a very low one; residuals put it on the truth
    # and the displacement maps are exact
    with torch.no_grad():
        out.logits.fill_(-40.0)
        tv = L.true_voxel(out, truth)
        out.logits.reshape(2, J, -1).scatter_(2, tv[..., None], 40.0)
        centres = L.voxel_centres(out).double()
        res = out.residual.reshape(2, J, 3, -1)
        for b in range(2):
            for j in range(J):
                res[b, j, :, tv[b, j]] = truth[b, j] - centres[tv[b, j]]
        e = torch.as_tensor(part_graph(topo).as_array())
        out.pair[:] = (truth[:, e[:, 0]] - truth[:, e[:, 1]])[..., None, None]
    loss, parts = _loss(out, truth, topo, c_raw, k=5)
    # (the ground-truth configuration is among the K with hinge Delta_gt ~ 0: rounding only)
    assert loss.item() == pytest.approx(0.0, abs=1e-6) and parts["violated"] <= 1 / 5
    loss_no_margin, _ = _loss(out, truth, topo, c_raw, k=5, w=0.0)
    assert loss_no_margin.item() == 0.0
    # and it is never negative
    for s in range(3):
        o, t, cr = _ssvm_setup(topo, seed=10 + s)
        assert _loss(o, t, topo, cr, k=4)[0].item() >= 0.0


def test_calibrate_pairwise():
    g = torch.Generator().manual_seed(0)
    true = torch.randn(4000, 5, 3, generator=g, dtype=torch.float64) * 10
    sig = torch.tensor([2.0, 4.0, 8.0], dtype=torch.float64)
    pred = true + torch.randn(4000, 5, 3, generator=g, dtype=torch.float64) * sig
    c = L.calibrate_pairwise(pred, true)
    assert c.shape == (5, 3) and (c > 0).all()
    assert torch.allclose(c.double(), (1 / (2 * sig ** 2)).expand(5, 3), rtol=0.1)
    assert torch.allclose(L.calibrate_pairwise(pred, true, unary_scale=3.0), 3 * c, rtol=1e-6)
    with pytest.raises(InputError):
        L.calibrate_pairwise(pred[:, :, :2], true[:, :, :2])


def test_dsn_overfits_and_inferred_poses_land_near_truth():
    from energy3d.models.structured_pose import PoseNetConfig, StructuredPoseNet

    torch.manual_seed(0)
    cfg = PoseNetConfig(input="heatmaps", crop=32, heatmap_size=16, stride=4, depth_bins=8, width=16,
                        blocks=(1, 1, 1, 1))
    net = StructuredPoseNet(cfg)
    g = torch.Generator().manual_seed(0)
    truth = 4 + torch.rand(4, J, 3, generator=g) * 24  # crop px, inside the 32^3 volume
    yy, xx = torch.meshgrid(torch.arange(16) + 0.5, torch.arange(16) + 0.5, indexing="ij")
    uv = truth[..., :2] / 2  # heatmap px
    x = torch.exp(-((xx - uv[..., 0, None, None]) ** 2 + (yy - uv[..., 1, None, None]) ** 2) / 2.0)
    x = x * (0.5 + truth[..., 2, None, None] / 32)  # depth cue in the blob height
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = None
    for step in range(100):
        loss, parts = L.dsn_loss(net(x), truth, model=net)
        first = first if first is not None else parts
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert parts["total"] < 0.3 * first["total"]
    for key in ("voxel", "residual", "pair", "heat2d"):
        assert parts[key] < first[key], key
    net.eval()
    net.train()  # batch statistics of these 4 samples (no running-stat warm-up)
    with torch.no_grad():
        out = net(x)
    for topo in ("unary", "stick_figure"):
        res = L.infer(out, net, topo, 8)
        err = np.linalg.norm(res.poses - truth.numpy(), axis=-1).mean()
        assert err < 4.0, (topo, err)  # a cell is 4 px


def test_bad_input():
    out = fake_out(D=2, H=2, W=2, E=part_graph("stick_figure").num_edges)
    model = model_for("stick_figure")
    truth = torch.full((1, J, 3), 5.0)
    for n in (0, 9, 2.5):
        with pytest.raises(InputError, match="candidate count"):
            L.candidates(out, n)
    with pytest.raises(InputError, match="unknown topology"):
        L.edge_terms(out, model, "five_hop")
    with pytest.raises(InputError, match="unknown topology"):
        L.infer(out, model, "five_hop", 2)
    with pytest.raises(InputError, match="joints_vol"):
        L.dsn_loss(out, torch.zeros(1, 16, 3), model=model)
    with pytest.raises(InputError, match="joints_vol"):
        L.ssvm_loss(out, model, torch.zeros(2, J, 3), "stick_figure", n=2)
    bad = fake_out(D=2, H=2, W=2)
    bad.residual = bad.residual[:, :, :2]
    with pytest.raises(InputError, match="residual"):
        L.candidates(bad, 2)
    with pytest.raises(InputError, match="no pairwise head"):
        L.edge_terms(out, model, "two_hop") if False else L.edge_terms(
            fake_out(E=part_graph("stick_figure").num_edges), model, "center_star")
    with pytest.raises(InputError, match="edges"):
        L.edge_terms(out, SimpleNamespace(foo=1), "stick_figure")
    with pytest.raises(InputError, match="k must"):
        L.ssvm_loss(out, model, truth, "stick_figure", n=2, k=0)
    with pytest.raises(InputError, match="unary"):
        L.candidates(out, 2, unary="softmax")
