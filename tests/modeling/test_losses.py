"""Each loss on a 2-class, 2x2-pixel example, against values computed with `math` by hand."""
import math

import pytest
import torch

from sr_d2.modeling.losses import (
    image_cls_loss,
    image_labels_from_mask,
    sem_seg_ce_loss,
    sr_f_loss,
    sr_l_loss,
)

IGNORE = 255
# (N=1, C=2, 2, 2): per pixel (class-0 logit, class-1 logit), pixels in row-major order.
STUDENT = [(0.5, -1.0), (2.0, 1.0), (-0.3, 0.4), (1.5, 1.5)]
TEACHER = [(3.0, 0.0), (-1.0, 1.0), (0.2, 0.1), (-2.0, 0.5)]


def _logits(pixels):
    return torch.tensor(pixels, dtype=torch.float32).t().reshape(1, 2, 2, 2)


def _softmax(pair, tau=1.0):
    e = [math.exp(v / tau) for v in pair]
    return [v / sum(e) for v in e]


def _ce(pair, target):
    return -math.log(_softmax(pair)[target])


def _kl(student, teacher, tau):
    p, q = _softmax(teacher, tau), _softmax(student, tau)
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def _bce(logit, target):
    s = _sigmoid(logit)
    return -(target * math.log(s) + (1 - target) * math.log(1 - s))


def test_sem_seg_ce_skips_void_pixels():
    targets = torch.tensor([[[0, 1], [IGNORE, 0]]])
    expected = (_ce(STUDENT[0], 0) + _ce(STUDENT[1], 1) + _ce(STUDENT[3], 0)) / 3
    assert sem_seg_ce_loss(_logits(STUDENT), targets, IGNORE).item() == pytest.approx(expected, rel=1e-6)


def test_image_labels_from_mask_ignore_void():
    targets = torch.tensor([[[0, 0], [IGNORE, 0]], [[2, 1], [1, IGNORE]]])
    assert image_labels_from_mask(targets, 3, IGNORE).tolist() == [[1, 0, 0], [0, 1, 1]]


def test_image_cls_loss():
    logits, labels = torch.tensor([[0.3, -1.2]]), torch.tensor([[1.0, 0.0]])
    expected = (_bce(0.3, 1) + _bce(-1.2, 0)) / 2
    assert image_cls_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)


def test_sr_f_hard_uses_teacher_argmax_on_every_pixel():
    # Teacher argmax per pixel: 0, 1, 0, 1; void does not exist for SR (no labels used).
    expected = sum(_ce(s, t) for s, t in zip(STUDENT, [0, 1, 0, 1])) / 4
    got = sr_f_loss(_logits(STUDENT), _logits(TEACHER), mode="hard")
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_sr_f_soft_is_tau_squared_kl():
    tau = 2.0
    expected = sum(_kl(s, t, tau) for s, t in zip(STUDENT, TEACHER)) / 4 * tau**2
    got = sr_f_loss(_logits(STUDENT), _logits(TEACHER), mode="soft", tau=tau)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_sr_f_confidence_mask_keeps_confident_teacher_pixels():
    # Teacher top probabilities: 0.95, 0.88, 0.52, 0.92 -> a 0.9 threshold keeps pixels 0 and 3.
    tau = 2.0
    expected = (_kl(STUDENT[0], TEACHER[0], tau) + _kl(STUDENT[3], TEACHER[3], tau)) / 2 * tau**2
    got = sr_f_loss(_logits(STUDENT), _logits(TEACHER), mode="soft", tau=tau, min_confidence=0.9)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    hard = sr_f_loss(_logits(STUDENT), _logits(TEACHER), mode="hard", min_confidence=0.9)
    assert hard.item() == pytest.approx((_ce(STUDENT[0], 0) + _ce(STUDENT[3], 1)) / 2, rel=1e-6)


def test_sr_l_image_is_bce_against_teacher_probabilities():
    student, teacher = torch.tensor([[0.5, -2.0]]), torch.tensor([[1.0, -0.5]])
    expected = (_bce(0.5, _sigmoid(1.0)) + _bce(-2.0, _sigmoid(-0.5))) / 2
    assert sr_l_loss(student, teacher, mode="image").item() == pytest.approx(expected, rel=1e-6)


def test_sr_l_pixel_is_tau_squared_kl():
    tau = 3.0
    expected = sum(_kl(s, t, tau) for s, t in zip(STUDENT, TEACHER)) / 4 * tau**2
    got = sr_l_loss(_logits(STUDENT), _logits(TEACHER), mode="pixel", tau=tau)
    assert got.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("loss,mode", [(sr_f_loss, "hard"), (sr_f_loss, "soft"), (sr_l_loss, "pixel")])
def test_teacher_gets_no_gradient(loss, mode):
    student = _logits(STUDENT).requires_grad_()
    teacher = _logits(TEACHER).requires_grad_()
    loss(student, teacher, mode=mode, tau=2.0).backward()
    assert teacher.grad is None
    assert student.grad.abs().sum() > 0


def test_image_sr_l_teacher_gets_no_gradient():
    student, teacher = torch.randn(2, 3, requires_grad=True), torch.randn(2, 3, requires_grad=True)
    sr_l_loss(student, teacher, mode="image").backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0


def test_bad_mode_and_shape_are_named():
    with pytest.raises(ValueError, match="'medium'"):
        sr_f_loss(_logits(STUDENT), _logits(TEACHER), mode="medium")
    with pytest.raises(ValueError, match=r"\(1, 2, 2, 2\).*\(1, 2, 1, 2\)"):
        sr_l_loss(_logits(STUDENT), _logits(TEACHER)[..., :1, :], mode="pixel")


def test_sr_f_with_labels_keeps_only_pixels_the_teacher_gets_right():
    # Teacher argmax 0, 1, 0, 1; labels 0, 0, void, 1 -> pixels 0 and 3 are kept.
    labels = torch.tensor([[[0, 0], [IGNORE, 1]]])
    tau = 2.0
    expected = (_kl(STUDENT[0], TEACHER[0], tau) + _kl(STUDENT[3], TEACHER[3], tau)) / 2 * tau**2
    got = sr_f_loss(_logits(STUDENT), _logits(TEACHER), mode="soft", tau=tau, labels=labels,
                    ignore_value=IGNORE)
    assert got.item() == pytest.approx(expected, rel=1e-5)
