import os

import pytest
import torch

from detectron2.config import get_cfg, instantiate
from detectron2.modeling import SemanticSegmentor, build_model

from sr_d2.config import add_sr_config, load_lazy_config
from sr_d2.modeling import SRSemanticSegmentor, exit_inference
from sr_d2.tools.export_plain import strip_self_regulation

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "configs", "synthetic")


def _models():
    torch.manual_seed(0)
    sr_config = os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py")
    sr = instantiate(load_lazy_config(sr_config).model)
    plain = instantiate(load_lazy_config(os.path.join(CONFIGS, "sem_seg_fpn_R18.py")).model)
    plain.load_state_dict(strip_self_regulation(sr.state_dict()))  # strict: every key fits
    return sr, plain


def _batch(n=2, h=64, w=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        {"image": torch.randint(0, 256, (3, h, w), generator=g).float(),
         "sem_seg": torch.randint(0, 6, (h, w), generator=g), "height": h, "width": w}
        for _ in range(n)
    ]


def test_training_returns_head_mea_and_sr_losses():
    sr, _ = _models()
    losses = sr.train()(_batch())
    assert set(losses) == {"loss_sem_seg", "loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l"}
    assert all(torch.isfinite(v) and v.item() > 0 for v in losses.values())


def test_eval_output_equals_semantic_segmentor_and_runs_no_exit():
    sr, plain = _models()
    sr.eval(), plain.eval()
    calls = []
    for module in [*sr.self_regulation.exits.values(), sr.self_regulation.final_image_classifier]:
        module.register_forward_hook(lambda *args: calls.append(1))
    batch = _batch()
    with torch.no_grad():
        out_sr, out_plain = sr(batch), plain(batch)
    assert calls == []
    assert all(torch.equal(a["sem_seg"], b["sem_seg"]) for a, b in zip(out_sr, out_plain))


def _grad_sum(loss, module):
    params = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    return sum(0.0 if g is None else g.abs().sum().item() for g in grads)


def test_gradients_flow_and_stop_where_the_method_says():
    sr, _ = _models()
    losses = sr.train()(_batch())
    assert _grad_sum(losses["loss_exit_seg"], sr.backbone.bottom_up) > 0  # MEA reaches the backbone
    assert _grad_sum(losses["loss_sr_l"], sr.sem_seg_head.base_head) == 0  # the final head teaches SR-L
    assert _grad_sum(losses["loss_sr_f"], sr.sem_seg_head.base_head) > 0  # ... and learns from SR-F
    assert _grad_sum(losses["loss_sr_f"], sr.self_regulation.exits["res2"]) == 0  # SR-F's teacher


def test_image_labels_field_is_used_when_given():
    sr, _ = _models()
    sr.train()
    batch = _batch()
    torch.manual_seed(1)
    from_mask = sr(batch)["loss_exit_cls"].item()
    for x in batch:
        x["image_labels"] = [5]
    torch.manual_seed(1)
    assert sr(batch)["loss_exit_cls"].item() != pytest.approx(from_mask)
    batch[0]["image_labels"] = [6]
    with pytest.raises(ValueError, match=r"image_labels \[6\]"):
        sr(batch)


def test_the_head_takes_exit_targets_and_image_labels_as_arguments_and_keeps_no_state():
    sr, _ = _models()
    sr.train()
    batch = _batch()
    head = sr.sem_seg_head
    before = {name: dict(vars(m)) for name, m in sr.named_modules()}
    sr(batch)
    assert {name: dict(vars(m)) for name, m in sr.named_modules()} == before  # nothing left set by the call
    features = sr.backbone(sr.padded_images(batch).tensor)
    targets = sr.padded([x["sem_seg"] for x in batch], head.ignore_value).tensor
    _, given = head(features, targets)
    only_class_0 = torch.zeros(2, 6)
    only_class_0[:, 0] = 1  # the random maps hold every class
    _, other = head(features, targets, exit_targets=(targets + 1) % 6, image_labels=only_class_0)
    assert other["loss_sem_seg"].item() == pytest.approx(given["loss_sem_seg"].item())  # the head's own
    for key in ("loss_exit_seg", "loss_exit_cls"):
        assert other[key].item() != pytest.approx(given[key].item())


def test_training_inputs_without_label_maps_are_named():
    sr, _ = _models()
    batch = _batch()
    del batch[1]["sem_seg"]
    batch[1]["file_name"] = "b.png"
    with pytest.raises(ValueError, match=r"the inputs \['b.png'\] have no 'sem_seg'"):
        sr.train()(batch)


def test_builds_from_a_yacs_config():
    cfg = get_cfg()
    add_sr_config(cfg)
    cfg.MODEL.META_ARCHITECTURE = "SRSemanticSegmentor"
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.BACKBONE.NAME = "build_resnet_fpn_backbone"
    cfg.MODEL.RESNETS.OUT_FEATURES = cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 6
    cfg.MODEL.SR.SR_F_MODE = "soft"
    with pytest.raises(KeyError, match="StagesFPN"):  # detectron2's FPN returns no stage
        build_model(cfg)
    cfg.MODEL.BACKBONE.NAME = "build_resnet_stages_fpn_backbone"
    model = build_model(cfg)
    assert isinstance(model, SRSemanticSegmentor) and isinstance(model, SemanticSegmentor)
    assert model.self_regulation.in_features == ["res2", "res3", "res4", "res5"]
    assert model.self_regulation.sr_f.mode == "soft"
    assert model.self_regulation.exits["res5"].convs[0].weight.shape[1] == 2048  # R-50 default
    cfg.MODEL.SR.IN_FEATURES = ["res2", "res9"]
    with pytest.raises(KeyError, match="res9"):
        build_model(cfg)


def test_exit_inference_gives_the_model_output_and_every_exit_at_image_size():
    sr, _ = _models()
    sr.eval()
    batch = _batch(h=50, w=70)  # padded to 64x96 inside: predictions are cropped back
    with torch.no_grad():
        expected, got = sr(batch), exit_inference(sr, batch)
    for e, g in zip(expected, got):
        assert set(g) == {"sem_seg", "res2", "res3", "res4", "res5"}
        assert torch.allclose(g["sem_seg"], e["sem_seg"], atol=1e-5)
        assert all(v.shape == (6, 50, 70) for v in g.values())


def _plain_resnet_sr(**sr_overrides):
    """SR on a backbone without ``bottom_up``: a plain ResNet-18, the head on its stages."""
    from detectron2.modeling import ResNet
    from detectron2.modeling.backbone.resnet import BasicStem
    from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead

    from sr_d2.modeling import SR_PRESETS, SelfRegulation, exit_feature_shapes

    torch.manual_seed(0)
    backbone = ResNet(BasicStem(3, 64, norm="BN"), ResNet.make_default_stages(18, norm="BN"),
                      out_features=["res2", "res3", "res4", "res5"])
    head = SemSegFPNHead(backbone.output_shape(), num_classes=6, conv_dims=32, common_stride=4,
                         norm="GN", ignore_value=255)
    settings = {**SR_PRESETS["sr-d2"], **sr_overrides}
    sr = SelfRegulation(exit_feature_shapes(backbone, ["res2", "res3"]), **settings)
    return SRSemanticSegmentor(backbone=backbone, sem_seg_head=head, self_regulation=sr,
                               pixel_mean=[0.0, 0.0, 0.0], pixel_std=[1.0, 1.0, 1.0])


def test_exits_on_a_backbone_without_bottom_up():
    model = _plain_resnet_sr(num_classes=6, ignore_value=255)
    assert model.self_regulation.in_features == ["res2", "res3"]
    losses = model.train()(_batch())
    assert all(torch.isfinite(v) and v.item() > 0 for v in losses.values())
    assert _grad_sum(losses["loss_exit_seg"], model.backbone.res2) > 0
    batch = _batch()
    for x in batch:
        x["height"], x["width"] = 32, 48  # predictions resized to each input's height and width
    predictions = exit_inference(model.eval(), batch)
    assert {k: tuple(v.shape) for k, v in predictions[0].items()} == {
        "sem_seg": (6, 32, 48), "res2": (6, 32, 48), "res3": (6, 32, 48)}


def test_sr_and_head_must_agree_on_the_ignore_value():
    with pytest.raises(ValueError, match="ignore_value=11 differs from sem_seg_head.ignore_value=255"):
        _plain_resnet_sr(num_classes=6, ignore_value=11)


def test_exit_features_are_checked_against_the_backbone_when_built():
    from detectron2.config import LazyCall as L
    from detectron2.layers import ShapeSpec

    config = os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py")
    cfg = load_lazy_config(config, ["model.self_regulation.input_shape.res3.channels=64"])
    with pytest.raises(ValueError, match="'res3' is declared with channels=64, stride=8; "
                                         "the backbone gives channels=128, stride=8"):
        instantiate(cfg.model)
    cfg = load_lazy_config(config)
    cfg.model.self_regulation.input_shape.res9 = L(ShapeSpec)(channels=8, stride=64)
    with pytest.raises(ValueError, match=r"'res9' is not a feature of the backbone \['p2', "):
        instantiate(cfg.model)


def test_sr_losses_scale_with_the_heads_loss_weight():
    sr, _ = _models()
    sr.train()
    batch = _batch()
    torch.manual_seed(1)
    full = sr(batch)
    sr.sem_seg_head.base_head.loss_weight = 0.5  # Panoptic-FPN's semantic head
    torch.manual_seed(1)
    half = sr(batch)
    for key, value in full.items():
        assert half[key].item() == pytest.approx(0.5 * value.item(), rel=1e-5), key


def test_a_base_model_checkpoint_loads_into_the_wrapped_head():
    sr, plain = _models()
    # the base model's checkpoint (fine-tuning with SR from a baseline): all but SR's keys load
    baseline = {k: v + 2 if v.is_floating_point() else v for k, v in plain.state_dict().items()}
    fresh, _ = _models()
    incompatible = fresh.load_state_dict(baseline, strict=False)
    assert incompatible.unexpected_keys == []
    assert incompatible.missing_keys and all(k.startswith("sem_seg_head.self_regulation.")
                                             for k in incompatible.missing_keys)
    loaded = fresh.state_dict()
    for key, value in baseline.items():
        assert torch.equal(loaded[key.replace("sem_seg_head.", "sem_seg_head.base_head.")], value), key


def test_sr_trains_under_autocast():
    # bfloat16 on CPU, as train.amp.enabled=True on a GPU: the head's and the exits' logits meet in SR-F
    sr, _ = _models()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = sr.train()(_batch())
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss_sr_f"].item() > 0
    sum(losses.values()).backward()
    assert sr.self_regulation.exits["res3"].predictor.weight.grad.abs().sum() > 0
