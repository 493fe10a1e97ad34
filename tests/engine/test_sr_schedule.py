"""SRSchedule: the scale (an fvcore ParamScheduler: warm-up, ramp) and adaptive switch-on that it
sets on SelfRegulation each step."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.utils.events import EventStorage

from sr_d2.config import add_sr_config
from sr_d2.engine import SRSchedule, sr_scale_schedule
from sr_d2.modeling import SR_PRESETS, SelfRegulation

C = 3


def _sr(shapes=None, **overrides):
    shapes = shapes or {"res2": ShapeSpec(channels=4, stride=4), "res3": ShapeSpec(channels=6, stride=8)}
    exit_head = {**SR_PRESETS["sr-d2"]["exit_head"], "norm": "", **overrides.pop("exit_head", {})}
    return SelfRegulation(shapes, num_classes=C, ignore_value=255,
                          **{**SR_PRESETS["sr-d2"], "exit_head": exit_head, **overrides})


def _hooked(sr, max_iter=40, warmup=0.0, ramp=0.0, switch_on_accuracy=0.0):
    """The schedule on a trainer stand-in (its model, max_iter, iter, storage), before_train done."""
    hook = SRSchedule(scheduler=sr_scale_schedule(warmup, ramp), switch_on_accuracy=switch_on_accuracy)
    hook.trainer = SimpleNamespace(model=torch.nn.Sequential(sr), max_iter=max_iter, iter=0, storage=None)
    hook.before_train()
    return hook


def _step(hook, sr, iteration, inputs):
    """One training step as a detectron2 trainer runs it: its losses and the logged scalars."""
    hook.trainer.iter = iteration
    with EventStorage(iteration) as storage:
        hook.trainer.storage = storage
        hook.before_step()
        losses = sr.train()(*inputs)
        hook.after_step()
        return losses, {k: v[0] for k, v in storage.latest().items()}


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    features = {"res2": torch.randn(2, 4, 8, 8, generator=g), "res3": torch.randn(2, 6, 4, 4, generator=g)}
    return features, torch.randn(2, C, 8, 8, generator=g), torch.randint(0, C, (2, 32, 32), generator=g)


def test_warmup_then_linear_ramp_as_fractions_of_max_iter():
    sr = _sr()
    # of 40 iterations: off before 10, then from 0 at 10 to full at 14 (at iteration / max_iter,
    # as detectron2's LRMultiplier reads its schedule)
    hook = _hooked(sr, warmup=0.25, ramp=0.1)
    assert [hook.scale(i) for i in (0, 9, 10, 11, 12, 14, 100)] == [0.0, 0.0, 0.0, 0.25, 0.5, 1.0, 1.0]
    before, logged = _step(hook, sr, 9, _inputs())
    assert sr.scale == 0.0 and logged["sr_scale"] == 0.0 and 0 <= logged["sr_teacher_accuracy"] <= 1
    assert before["loss_sr_f"].item() == 0 and before["loss_sr_l"].item() == 0
    half, logged = _step(hook, sr, 12, _inputs())
    assert logged["sr_scale"] == 0.5
    full, _ = _step(hook, sr, 14, _inputs())
    assert full["loss_sr_f"].item() == pytest.approx(2 * half["loss_sr_f"].item(), rel=1e-5)
    assert full["loss_sr_l"].item() == pytest.approx(2 * half["loss_sr_l"].item(), rel=1e-5)
    assert before["loss_exit_seg"].item() == pytest.approx(full["loss_exit_seg"].item())
    hook.trainer.max_iter = 80  # the schedule follows the trainer's length
    assert hook.scale(20) == 0.0 and hook.scale(22) == 0.25  # warm-up 20, ramp 8


def test_without_the_hook_sr_weighs_in_fully():
    assert _sr()(*_inputs())["loss_sr_f"].item() > 0


def test_adaptive_switch_on_when_the_teachers_running_accuracy_passes_the_threshold():
    # A res2 exit that predicts its input feature (one-hot maps), right on 1/4 of the pixels for
    # 6 steps, then on all of them.
    shapes = {"res2": ShapeSpec(channels=C, stride=4), "res3": ShapeSpec(channels=6, stride=8)}
    sr = _sr(shapes, exit_head=dict(conv_kernels=()), loss_stride=1)
    with torch.no_grad():
        sr.exits["res2"].predictor.weight.copy_(torch.eye(C)[:, :, None, None] * 10)
        sr.exits["res2"].predictor.bias.zero_()
    hook = _hooked(sr, warmup=0.1, switch_on_accuracy=0.6)
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(0, C, (2, 8, 8), generator=g)
    final_logits, res3 = torch.randn(2, C, 8, 8, generator=g), torch.randn(2, 6, 4, 4, generator=g)
    right = F.one_hot(targets, C).permute(0, 3, 1, 2).float()
    poor = torch.cat([right[..., :2], F.one_hot((targets[..., 2:] + 1) % C, C).permute(0, 3, 1, 2)], -1)
    scales, accuracy, expected_scales = [], 0.0, []
    for iteration in range(16):
        # on from the step after the one whose batch brought the accuracy to 0.6 (past the warm-up, 4)
        expected_scales.append(1.0 if accuracy >= 0.6 else 0.0)
        res2, right_share = (poor.float(), 0.25) if iteration < 6 else (right, 1.0)
        _, logged = _step(hook, sr, iteration, ({"res2": res2, "res3": res3}, final_logits, targets))
        scales.append(logged["sr_scale"])
        accuracy = 0.9 * accuracy + 0.1 * right_share
        assert logged["sr_teacher_accuracy"] == pytest.approx(accuracy, rel=1e-5)
    assert scales == expected_scales == [0.0] * 14 + [1.0] * 2 and hook.switched_on_at == 14
    resumed = _hooked(_sr(), switch_on_accuracy=0.6)  # checkpointed with the trainer: a resume keeps it
    resumed.load_state_dict(hook.state_dict())
    assert resumed.scale(30) == 1.0 and resumed.scale(13) == 0.0


def test_a_late_switch_delays_the_whole_schedule_ramp_included():
    hook = _hooked(_sr(), warmup=0.25, ramp=0.1, switch_on_accuracy=0.5)  # first non-zero scale at 11
    hook.switched_on_at = 20  # the teachers were accurate 9 iterations late
    assert [hook.scale(i) for i in (11, 19, 20, 21, 23, 39)] == [0.0, 0.0, 0.25, 0.5, 1.0, 1.0]


def test_no_switch_before_the_warmup_ends():
    sr = _sr()
    sr.teacher_accuracy.fill_(0.99)
    hook = _hooked(sr, max_iter=10, warmup=0.5, switch_on_accuracy=0.5)
    for iteration in range(4):
        _step(hook, sr, iteration, _inputs())
    assert hook.switched_on_at == -1
    _step(hook, sr, 4, _inputs())  # its accuracy counts for iteration 5, the warm-up's end
    assert hook.switched_on_at == 5


@pytest.mark.parametrize("settings,message", [
    (dict(warmup=1.0), "warmup must be a number in \\[0, 1\\)"),
    (dict(ramp=-0.5), "ramp must be a number in \\[0, 1\\]"),
    (dict(switch_on_accuracy="high"), "switch_on_accuracy must be a number"),
    (dict(warmup=0.5, ramp=0.6), r"warmup=0.5 \+ ramp=0.6 is more than the schedule"),
])
def test_bad_settings_fail_naming_the_setting(settings, message):
    settings = {"warmup": 0.25, "ramp": 0.0, "switch_on_accuracy": 0.0, **settings}
    with pytest.raises(ValueError, match=message):
        SRSchedule(scheduler=sr_scale_schedule(settings["warmup"], settings["ramp"]),
                   switch_on_accuracy=settings["switch_on_accuracy"])


def test_a_scheduler_that_is_not_a_param_scheduler_is_refused():
    with pytest.raises(TypeError, match="scheduler must be an fvcore ParamScheduler.*got float"):
        SRSchedule(scheduler=0.25)


def test_a_model_without_self_regulation_is_refused():
    hook = SRSchedule(scheduler=sr_scale_schedule(0.25, 0.0))
    hook.trainer = SimpleNamespace(model=torch.nn.Linear(2, 2), max_iter=10)
    with pytest.raises(ValueError, match="Linear has no SelfRegulation"):
        hook.before_train()


def test_builds_from_a_yacs_config():
    cfg = get_cfg()
    add_sr_config(cfg)
    cfg.MODEL.SR.RAMP = 0.1
    hook = SRSchedule(cfg)
    assert [hook.scheduler(w) for w in (0.2, 0.25, 0.3, 0.35, 0.9)] == pytest.approx([0, 0, 0.5, 1, 1])
    assert hook.switch_on_accuracy == 0.0
