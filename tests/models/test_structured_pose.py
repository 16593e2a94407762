"""StructuredPoseNet (Kinauer et al. §3.1): config validation, output shapes in both input modes,
union edges and their orientation per topology, initialisation, size."""

import numpy as np
import pytest
import torch

from energy3d.errors import InputError
from energy3d.metrics import count_macs, count_parameters
from energy3d.models.structured_pose import PoseNetConfig, StructuredPoseNet, union_edges
from energy3d.structured import TOPOLOGIES, part_graph

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("cfg, shape", [
    (PoseNetConfig(), (3, 128, 128)),
    (PoseNetConfig(input="heatmaps"), (17, 64, 64)),
    (PoseNetConfig(crop=64, stride=4, depth_bins=8, width=8, blocks=(1, 1, 1, 1)), (3, 64, 64)),
    (PoseNetConfig(input="heatmaps", crop=64, heatmap_size=32, stride=4, depth_bins=12, width=8), (17, 32, 32)),
    (PoseNetConfig(input="heatmaps", crop=32, heatmap_size=16, stride=4, depth_bins=8, width=8), (17, 16, 16)),
])
def test_output_shapes(cfg, shape):
    net = StructuredPoseNet(cfg)
    out = net(torch.rand(2, *shape))
    H = cfg.crop // cfg.stride
    J, D, E = 17, cfg.depth_bins, net.edges.shape[0]
    assert out.logits.shape == (2, J, D, H, H)
    assert out.residual.shape == (2, J, 3, D, H, H)
    assert out.pair.shape == (2, E, 3, H, H)
    assert out.heat2d.shape == (2, J, H, H)
    assert out.crop == cfg.crop and out.logits.dtype == torch.float32
    assert net.c.shape == (E, 3) and (net.c > 0).all()


def test_initialisation_is_sane():
    torch.manual_seed(0)
    net = StructuredPoseNet(PoseNetConfig(crop=64, stride=4, depth_bins=8, width=8))
    out = net(torch.rand(4, 3, 64, 64))
    p = torch.sigmoid(out.logits).mean().item()
    assert 1e-4 < p < 0.05  # about the rate of positive voxels
    assert out.residual.abs().mean() < 1.0 and out.pair.abs().mean() < 1.0  # crop px, near zero


def test_union_edges_and_orientation():
    net = StructuredPoseNet(PoseNetConfig(crop=32, heatmap_size=16, stride=4, depth_bins=4, width=8,
                                          input="heatmaps"))
    e = net.edges.numpy()
    assert np.array_equal(e, union_edges())
    assert len({frozenset(x) for x in e.tolist()}) == len(e)  # each pair once
    reversed_seen = False
    for topo in TOPOLOGIES:
        g = part_graph(topo).as_array()
        ids, sign = net.edge_signs(topo)
        assert torch.equal(ids, net.edge_ids(topo)) and len(ids) == len(g)
        for (a, b), k, s in zip(g, ids.tolist(), sign.tolist()):
            assert tuple(e[k]) == ((a, b) if s > 0 else (b, a))
            reversed_seen |= s < 0
    assert reversed_seen  # some topology lists an edge the other way round (mu flips sign there)
    assert net.edge_ids("unary").numel() == 0
    with pytest.raises(InputError, match="unknown"):
        net.edge_ids("five_hop")


def test_size_budget():
    net = StructuredPoseNet(PoseNetConfig())
    assert count_parameters(net) < 2_000_000
    assert 0.1e9 <= count_macs(net, torch.rand(1, 3, 128, 128)) <= 0.3e9


@pytest.mark.parametrize("kw, match", [
    (dict(input="depth"), "input"),
    (dict(crop=100), "multiple of stride"),
    (dict(stride=0), "stride"),
    (dict(depth_bins=0), "depth_bins"),
    (dict(width=2), "width"),
    (dict(blocks=(1, 2, 2)), "blocks"),
    (dict(blocks=(1, 0, 2, 2)), "blocks"),
    (dict(edges="stick"), "edges"),
    (dict(input="heatmaps", heatmap_size=48), "power of two"),
    (dict(crop=8, stride=8), "head cells"),
])
def test_bad_config(kw, match):
    with pytest.raises(InputError, match=match):
        PoseNetConfig(**kw)


def test_bad_input_shape():
    net = StructuredPoseNet(PoseNetConfig(crop=32, stride=4, depth_bins=4, width=8))
    with pytest.raises(InputError, match="expected input"):
        net(torch.rand(1, 4, 32, 32))
    with pytest.raises(InputError, match="expected input"):
        net(torch.rand(1, 3, 64, 64))
    with pytest.raises(InputError, match="PoseNetConfig"):
        StructuredPoseNet({"input": "rgb"})


def test_set_c_round_trips_through_softplus_and_checks_the_shape():
    m = StructuredPoseNet(PoseNetConfig(input="heatmaps", width=8, blocks=(1, 1, 1, 1)))
    want = torch.logspace(-5, 2, m.c_raw.numel()).reshape(m.c_raw.shape)
    m.set_c(want)
    assert torch.allclose(m.c.detach(), want, rtol=1e-4)
    with pytest.raises(InputError, match="expected shape"):
        m.set_c(torch.ones(3))
