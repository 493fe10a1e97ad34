import pytest
import torch

from detectron2.layers import ShapeSpec
from detectron2.utils.events import EventStorage

from sr_d2.modeling import SR_PRESETS, SelfRegulation

C, IGNORE = 3, 255
SHAPES = {"res3": ShapeSpec(channels=6, stride=8), "res2": ShapeSpec(channels=4, stride=4)}


def _sr(**overrides):
    settings = {**SR_PRESETS["sr-d2"], "norm": "", "warmup_iters": 0, "ramp_iters": 0, **overrides}
    return SelfRegulation(SHAPES, num_classes=C, ignore_value=IGNORE, **settings)


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    features = {"res2": torch.randn(2, 4, 8, 8, generator=g), "res3": torch.randn(2, 6, 4, 4, generator=g)}
    final_logits = torch.randn(2, C, 8, 8, generator=g, requires_grad=True)
    targets = torch.randint(0, C, (2, 32, 32), generator=g)
    targets[:, :4] = IGNORE
    return features, final_logits, targets


def test_exits_are_ordered_shallow_to_deep():
    assert _sr().in_features == ["res2", "res3"]


def _grads(loss, params):
    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    return [0.0 if g is None else g.abs().sum().item() for g in grads]


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_sr_f_teaches_deeper_exits_and_final_not_the_shallow_teacher(mode):
    sr = _sr(sr_f_mode=mode)
    features, final_logits, targets = _inputs()
    losses = sr(features, final_logits, targets, iteration=0)
    teacher_exit = list(sr.exits["res2"].parameters())
    student_classifier = list(sr.exits["res3"].predictor.parameters())
    assert sum(_grads(losses["loss_sr_f"], teacher_exit)) == 0
    assert all(g > 0 for g in _grads(losses["loss_sr_f"], student_classifier))
    assert _grads(losses["loss_sr_f"], [final_logits])[0] > 0


@pytest.mark.parametrize("mode", ["image", "pixel"])
def test_sr_l_teaches_exits_not_the_final_output(mode):
    sr = _sr(sr_l_mode=mode)
    features, final_logits, targets = _inputs()
    losses = sr(features, final_logits, targets, iteration=0)
    assert _grads(losses["loss_sr_l"], [final_logits])[0] == 0
    assert sum(_grads(losses["loss_sr_l"], list(sr.final_image_classifier.parameters()))) == 0
    for name in ("res2", "res3"):
        assert sum(_grads(losses["loss_sr_l"], list(sr.exits[name].parameters()))) > 0


def test_mea_losses_reach_every_exit_and_the_features():
    sr = _sr()
    features, final_logits, targets = _inputs()
    for f in features.values():
        f.requires_grad_()
    losses = sr(features, final_logits, targets, iteration=0)
    for name, exit_head in sr.exits.items():
        assert all(g > 0 for g in _grads(losses["loss_exit_seg"], list(exit_head.predictor.parameters())))
        assert _grads(losses["loss_exit_seg"], [features[name]])[0] > 0
    assert all(g > 0 for g in _grads(losses["loss_exit_cls"], list(sr.final_image_classifier.parameters())))


def test_warmup_then_linear_ramp():
    sr = _sr(warmup_iters=10, ramp_iters=4)
    assert [sr.sr_scale(i) for i in (0, 9, 10, 11, 13, 100)] == [0.0, 0.0, 0.25, 0.5, 1.0, 1.0]
    features, final_logits, targets = _inputs()
    before = sr(features, final_logits, targets, iteration=9)
    after = sr(features, final_logits, targets, iteration=13)
    assert before["loss_sr_f"].item() == 0 and before["loss_sr_l"].item() == 0
    assert after["loss_sr_f"].item() > 0 and after["loss_sr_l"].item() > 0
    assert before["loss_exit_seg"].item() == pytest.approx(after["loss_exit_seg"].item())


def test_iteration_comes_from_detectron2_event_storage():
    sr = _sr(warmup_iters=5)
    features, final_logits, targets = _inputs()
    with EventStorage(start_iter=4):
        assert sr(features, final_logits, targets)["loss_sr_f"].item() == 0
    with EventStorage(start_iter=5):
        assert sr(features, final_logits, targets)["loss_sr_f"].item() > 0
    with pytest.raises(ValueError, match="iteration"):
        sr(features, final_logits, targets)


def test_given_image_labels_replace_those_from_the_mask():
    sr = _sr(exit_seg_weight=0.0)
    features, final_logits, targets = _inputs()
    from_mask = sr(features, final_logits, targets, iteration=0)["loss_exit_cls"]
    given = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    with_given = sr(features, final_logits, targets, image_labels=given, iteration=0)["loss_exit_cls"]
    assert with_given.item() != pytest.approx(from_mask.item())


def test_official_preset_builds_full_resolution_exits():
    sr = _sr(**{**SR_PRESETS["official"], "norm": ""})
    assert sr.loss_stride == 1 and sr.exits["res2"].convs[0].weight.shape == (256, 4, 3, 3)
    features, final_logits, targets = _inputs()
    assert set(sr(features, final_logits, targets, iteration=0)) == {
        "loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l"}
