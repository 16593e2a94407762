"""Voxel networks: encoder sizes vs the paper, shapes at several resolutions, level geometry,
unrolled training graph, lean inference, the training task and checkpoint round trip."""

import pytest
import torch

from energy3d.errors import InputError
from energy3d.metrics import count_parameters
from energy3d.models.encoders import MobileNetV2Encoder
from energy3d.models.voxel import VoxelBaseline, VoxelIGE, VoxelModelConfig, build_voxel_model, resize_grid, resize_grid_into
from energy3d.train.checkpoint import save_checkpoint
from energy3d.train.loop import TrainConfig, fit
from energy3d.tasks.voxel import (
    VoxelDataConfig, VoxelExperiment, VoxelLossConfig, VoxelTask, evaluate_voxel, load_voxel_model, voxel_meta,
)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_cfg(**kw):
    base = dict(type="ige", image_size=64, resolution=16, stem_stride=1, width_mult=0.25, decoder_channels=16,
                deconv_channels=8, deconv_bottleneck=8, init_resolution=8, steps=2)
    base.update(kw)
    return VoxelModelConfig(**base)


class ConstantShapes(torch.utils.data.Dataset):
    """Random images whose frustum (and world) target is always the same central block."""

    def __init__(self, n=8, R=16, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, 3, 64, 64, generator=g)
        self.target = torch.zeros(R, R, R)
        self.target[R // 4:3 * R // 4, R // 4:3 * R // 4, R // 4:3 * R // 4] = 1

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "frustum": self.target, "world": self.target,
                "category_name": ("chair", "table")[i % 2]}


def test_mobilenet_v2_matches_paper_table2_parameter_counts():
    # IGE-Net Table 2: MN2 with the 1280 head 2,223,872 parameters; without it (4² x 320) 1,811,712
    assert count_parameters(MobileNetV2Encoder(1.0, 2, 1280)) == 2_223_872
    assert count_parameters(MobileNetV2Encoder(1.0, 2, 0)) == 1_811_712
    feats = MobileNetV2Encoder(0.5, 2)(torch.zeros(1, 3, 128, 128))
    assert [f.shape[-1] for f in feats] == [64, 32, 16, 8, 4]
    dw = [m for m in MobileNetV2Encoder(0.5).modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert dw and all(m.groups == m.in_channels == m.out_channels for m in dw)  # depthwise convolutions


@pytest.mark.parametrize("R", [16, 32, 64])
def test_shapes_and_levels_at_several_resolutions(R):
    torch.manual_seed(0)
    m = VoxelIGE(tiny_cfg(resolution=R)).eval()
    x = torch.rand(2, 3, 64, 64)
    its = m.iterate(x).iterates
    assert len(its) == 3 and all(y.shape == (2, R, R, R) for y in its)
    lv = m.energy.levels
    assert [l.size for l in lv] == [4 * 2**k for k in range(len(lv))] and lv[-1].size == R
    assert all(l.pixel_pool * l.size == R for l in lv)
    assert [l.depth_pool for l in lv] == [2**k for k in range(len(lv))]  # d_k = R / 2^k, ∝ channels
    assert lv[0].coarsest and m.energy.conv2[0].kernel_size == (2, 2) and m.energy.conv2[1].kernel_size == (3, 3)
    b = VoxelBaseline(tiny_cfg(type="baseline", resolution=R))
    assert b.eval()(x).shape == (2, R, R, R)


def test_no_3d_convolutions_in_the_energy():
    m = VoxelIGE(tiny_cfg())
    assert not any(isinstance(mod, (torch.nn.Conv3d, torch.nn.ConvTranspose3d)) for mod in m.energy.modules())


def test_training_graph_is_second_order_and_lean_inference_matches():
    torch.manual_seed(0)
    m = VoxelIGE(tiny_cfg(energy_init_scale=1.0, step_clip=0.05)).train()
    x = torch.rand(2, 3, 64, 64)
    its = m(x, all_iterates=True)
    assert len(its) == 3 and its[-1].requires_grad
    torch.sigmoid(its[-1]).mean().backward()
    assert m.optimizer.lr.grad is not None and m.optimizer.lr.grad != 0
    assert m.energy.conv1[0].weight.grad.abs().sum() > 0  # the energy is trained through the steps
    assert m.optimizer.momentum is None
    m.eval()
    ref = m.iterate(x).iterates
    assert not torch.equal(ref[0], ref[-1])  # the steps move the proposal
    assert torch.allclose(m.infer(x), ref[-1], atol=1e-5)
    assert torch.allclose(m(x), ref[-1], atol=1e-5)


def test_resize_grid_and_config_errors():
    g = torch.rand(1, 8, 8, 8)
    up = resize_grid(g, 16)
    assert up.shape == (1, 16, 16, 16)
    assert g.min() <= up.min() and up.max() <= g.max()  # trilinear: convex combinations
    blocks = g.repeat_interleave(2, 1).repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert torch.allclose(resize_grid(blocks, 8), g, atol=1e-6)  # downsampling averages
    assert resize_grid(torch.ones(1, 4, 4, 4), 32).min() == 1
    with pytest.raises(InputError):
        tiny_cfg(resolution=24)
    with pytest.raises(InputError):
        tiny_cfg(type="mlp")
    with pytest.raises(InputError):
        VoxelIGE(tiny_cfg(resolution=8, init_resolution=8, stem_stride=2))  # coarse size 2 < 4
    with pytest.raises(InputError):
        VoxelIGE(tiny_cfg())(torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize("S,R", [(4, 12), (8, 32), (8, 8)])
def test_chunked_upsampling_into_a_grid_equals_trilinear(S, R):
    g = torch.randn(2, S, S, S, dtype=torch.float64)
    ref = torch.nn.functional.interpolate(g[:, None], size=(R, R, R), mode="trilinear", align_corners=False)[:, 0]
    out = resize_grid_into(g, torch.empty(2, R, R, R, dtype=torch.float64), chunk=5)
    assert torch.allclose(out, ref, atol=1e-12)
    half = resize_grid_into(g.float(), torch.empty(2, R, R, R, dtype=torch.float16))
    assert half.dtype == torch.float16
    assert ((half.double() - ref).abs() <= 2.0 ** -11 * ref.abs() + 1e-6).all()  # float16 rounding only
    with pytest.raises(InputError, match="upsamples only"):
        resize_grid_into(g, torch.empty(2, S - 1, S - 1, S - 1, dtype=torch.float64))


def test_float16_grid_inference_matches_float32_within_rounding():
    torch.manual_seed(0)
    m = VoxelIGE(tiny_cfg(energy_init_scale=1.0, step_clip=0.05, steps=3)).eval()
    x = torch.rand(2, 3, 64, 64)
    ref = m.infer(x)
    half = m.infer(x, grid_dtype=torch.float16)
    assert half.dtype == torch.float16 and ref.dtype == torch.float32
    assert not torch.equal(ref, m.features(x)[1])  # the steps moved the grid
    # each of the init and the 3 steps rounds once to float16: at most 4 half-ulps of the logit's size
    err = (half.float() - ref).abs()
    assert (err <= 4 * 2.0 ** -11 * ref.abs().clamp(min=1.0)).all(), err.max()
    assert ((half.float() > 0) == (ref > 0)).float().mean() > 0.999  # the same occupancy at 0.5


def _exp(model_type="ige", loss=VoxelLossConfig(), target="frustum", epochs=1):
    return VoxelExperiment(name="t", data=VoxelDataConfig(resolution=16, target=target),
                           model=tiny_cfg(type=model_type), loss=loss,
                           train=TrainConfig(epochs=epochs, batch_size=4, lr=3e-3, seed=0), val_limit=4)


def test_task_loss_decreases_and_checkpoint_round_trip(tmp_path):
    exp = _exp(epochs=6)
    task = VoxelTask(exp, train_set=ConstantShapes(8), val_set=ConstantShapes(4, seed=1))
    summary = fit(task, exp.train, tmp_path, resume=False, progress=False)
    h = summary["history"]
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    model, meta = load_voxel_model(tmp_path / "best.json")
    assert meta["model_type"] == "voxel_ige" and meta["frustum"]["z_range"] == [1.5, 2.5]
    x = ConstantShapes(2).images
    task.model.eval()
    save_checkpoint(tmp_path / "again", task.model, voxel_meta(task.model, exp))
    again, _ = load_voxel_model(tmp_path / "again.json")
    assert torch.allclose(again(x), task.model(x), atol=1e-6)
    res = evaluate_voxel(model, ConstantShapes(4, seed=2), thresholds=(0.3, 0.5))
    assert set(res["iou@0.5"]["per_category"]) == {"chair", "table"}
    assert len(res["per_step_mean_iou@0.5"]) == 3 and res["best_threshold"]["mean"] >= res["iou@0.5"]["mean"]


def test_baseline_world_task_and_focal_loss():
    exp = _exp("baseline", VoxelLossConfig("focal", 0.7, 2.0), target="world")
    task = VoxelTask(exp, train_set=ConstantShapes(4), val_set=ConstantShapes(4, seed=1))
    batch = next(task.batches(0, 0, 0, 1))
    loss, _ = task.loss(task.model.train(), batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert 0.0 <= task.validate(task.model)["score"] <= 1.0
    with pytest.raises(InputError):
        _exp("ige", target="world")  # the IGE energy needs frustum grids
    with pytest.raises(InputError):
        load_voxel_model("nonexistent/best.json")
    assert isinstance(build_voxel_model(tiny_cfg(type="baseline")), VoxelBaseline)


def test_inference_ops_follow_the_device():
    """Features, the chunked upsampling and the in-place energy step create nothing on a fixed device:
    run on the ``meta`` device (shapes only; ``resize_grid_into`` once built its interpolation tables
    on the CPU, which a GPU grid would refuse), everything stays there."""
    from energy3d.models.voxel import resize_grid_into

    m = VoxelIGE(tiny_cfg()).eval().to("meta")
    with torch.no_grad():
        feats, y0 = m.features(torch.rand(2, 3, 64, 64, device="meta"), resize=False)
        y = resize_grid_into(y0, y0.new_empty((2, 16, 16, 16)))
        out = m.energy.logit_step_(y, feats, 0.1, 0.5)
        e = m.energy(torch.sigmoid(y), feats)
    assert all(f.is_meta for f in feats) and y0.is_meta and out is y and y.is_meta and y.shape == (2, 16, 16, 16)
    assert e.is_meta and e.shape == (2,)
