"""Each loss on a 2-class, 2x2-pixel example, against values computed with `math` by hand."""
import math

import pytest
import torch
import torch.nn.functional as F

from sr_d2.modeling.losses import (
    class_argmax,
    image_cls_loss,
    image_labels_from_mask,
    label_shares,
    local_affinity,
    sem_seg_ce_loss,
    sr_f_affinity_loss,
    sr_f_loss,
    sr_l_loss,
    void_to_teacher,
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
    shares = label_shares(torch.tensor([[[0, 1], [IGNORE, 0]]]), 2, IGNORE)
    expected = (_ce(STUDENT[0], 0) + _ce(STUDENT[1], 1) + _ce(STUDENT[3], 0)) / 3
    assert sem_seg_ce_loss(_logits(STUDENT), shares).item() == pytest.approx(expected, rel=1e-6)


def test_area_shares_keep_a_one_pixel_line_that_nearest_sampling_drops():
    # 8x8, class 0 everywhere, a vertical 1-px line of class 1 in column 5, void in row 0 of cell (0, 0).
    targets = torch.zeros(1, 8, 8, dtype=torch.long)
    targets[0, :, 5] = 1
    targets[0, 0, :4] = IGNORE
    area = label_shares(targets, 2, IGNORE, stride=4)
    assert area.shape == (1, 2, 2, 2)
    # cells (i, 1) hold 4 of 16 line pixels; cell (0, 0) has 4 void pixels: 12/16 class 0.
    assert area[0, 1].tolist() == [[0.0, 0.25], [0.0, 0.25]]
    assert area[0, 0].tolist() == [[0.75, 0.75], [1.0, 0.75]]
    nearest = label_shares(targets, 2, IGNORE, stride=4, sampling="nearest")
    assert nearest[0, 1].sum() == 0  # the line never crosses a sampled pixel (columns 0 and 4)
    assert nearest[0, :, 0, 0].tolist() == [0.0, 0.0]  # the sampled pixel (0, 0) is void


def test_ce_over_area_shares_equals_full_resolution_ce_of_repeated_logits():
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 4, (2, 8, 12), generator=g)
    targets[0, :3, :5] = IGNORE
    logits = torch.randn(2, 3, 2, 3, generator=g)
    full = F.cross_entropy(logits.repeat_interleave(4, 2).repeat_interleave(4, 3),
                           torch.where(targets == 3, IGNORE, targets), ignore_index=IGNORE)
    # class id 3 is out of range for 3 classes: void like the ignore value
    got = sem_seg_ce_loss(logits, label_shares(targets, 3, IGNORE, stride=4))
    assert got.item() == pytest.approx(full.item(), rel=1e-5)


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


def test_sr_f_teacher_right_gate_keeps_pixels_the_teacher_gets_right():
    # Teacher argmax 0, 1, 0, 1; labels 0, 0, void, 1 -> pixels 0 and 3 count, over 3 labelled.
    shares = label_shares(torch.tensor([[[0, 0], [IGNORE, 1]]]), 2, IGNORE)
    tau = 2.0
    expected = (_kl(STUDENT[0], TEACHER[0], tau) + _kl(STUDENT[3], TEACHER[3], tau)) / 3 * tau**2
    got = sr_f_loss(_logits(STUDENT), _logits(TEACHER), mode="soft", tau=tau, gate="teacher_right",
                    shares=shares)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_sr_f_student_wrong_gate_keeps_detail_the_student_misses():
    # Teacher argmax 0, 1, 0, 1; student argmax 0, 0, 1, 0 (pixel 3 a tie: argmax 0); labels
    # 0, 1, 0, 1: the teacher is right everywhere, the student wrong on pixels 1, 2, 3.
    shares = label_shares(torch.tensor([[[0, 1], [0, 1]]]), 2, IGNORE)
    expected = (_ce(STUDENT[1], 1) + _ce(STUDENT[2], 0) + _ce(STUDENT[3], 1)) / 4
    got = sr_f_loss(_logits(STUDENT), _logits(TEACHER), gate="teacher_right_student_wrong", shares=shares)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_sr_f_class_balanced_weighs_every_labelled_class_the_same():
    # Teacher argmax 0, 1, 0, 1; labels 0, 0, void, 1: right on pixel 0 (class 0, labelled mass 2)
    # and pixel 3 (class 1, mass 1) -> the mean over the two classes of their gated sums / mass.
    shares = label_shares(torch.tensor([[[0, 0], [IGNORE, 1]]]), 2, IGNORE)
    expected = (_ce(STUDENT[0], 0) / 2 + _ce(STUDENT[3], 1) / 1) / 2
    got = sr_f_loss(_logits(STUDENT), _logits(TEACHER), gate="teacher_right", shares=shares,
                    class_balanced=True)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    unbalanced = sr_f_loss(_logits(STUDENT), _logits(TEACHER), gate="teacher_right", shares=shares)
    assert unbalanced.item() == pytest.approx((_ce(STUDENT[0], 0) + _ce(STUDENT[3], 1)) / 3, rel=1e-6)
    # A given class mass (under DDP the mean over processes) replaces this batch's.
    got = sr_f_loss(_logits(STUDENT), _logits(TEACHER), gate="teacher_right", shares=shares,
                    class_balanced=True, class_mass=torch.tensor([4.0, 0.5]))
    expected = (_ce(STUDENT[0], 0) / 4 + _ce(STUDENT[3], 1) / 0.5) / 2
    assert got.item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="class_balanced needs a gate"):
        sr_f_loss(_logits(STUDENT), _logits(TEACHER), shares=shares, class_balanced=True)


def test_class_balanced_ce_weighs_every_labelled_class_the_same():
    # Labels 0, 0, void, 1: class 0 has mass 2 (pixels 0, 1), class 1 mass 1 (pixel 3).
    shares = label_shares(torch.tensor([[[0, 0], [IGNORE, 1]]]), 2, IGNORE)
    expected = ((_ce(STUDENT[0], 0) + _ce(STUDENT[1], 0)) / 2 + _ce(STUDENT[3], 1) / 1) / 2
    got = sem_seg_ce_loss(_logits(STUDENT), shares, class_balanced=True)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    got = sem_seg_ce_loss(_logits(STUDENT), shares, class_balanced=True, class_mass=torch.tensor([4.0, 0.5]))
    expected = ((_ce(STUDENT[0], 0) + _ce(STUDENT[1], 0)) / 4 + _ce(STUDENT[3], 1) / 0.5) / 2
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_gated_sr_f_taught_by_the_labels_themselves_is_the_label_ce():
    # The control the teacher is measured against: a teacher whose argmax is the label on every
    # pixel gates nothing out, so hard SR-F is the (balanced) label CE; the real teacher (argmax
    # 0, 1, 0, 1 against labels 0, 0, void, 1) drops pixel 1 and is not.
    targets = torch.tensor([[[0, 0], [IGNORE, 1]]])
    shares = label_shares(targets, 2, IGNORE)
    oracle = _logits([(1.0, 0.0), (1.0, 0.0), (0.0, 0.0), (0.0, 1.0)])
    for balanced in (False, True):
        control = sem_seg_ce_loss(_logits(STUDENT), shares, class_balanced=balanced)
        taught = sr_f_loss(_logits(STUDENT), oracle, gate="teacher_right", shares=shares,
                           class_balanced=balanced)
        assert taught.item() == pytest.approx(control.item(), rel=1e-6)
        real = sr_f_loss(_logits(STUDENT), _logits(TEACHER), gate="teacher_right", shares=shares,
                         class_balanced=balanced)
        assert real.item() != pytest.approx(control.item(), rel=1e-3)


def test_sr_f_gate_weighs_a_cell_by_the_share_of_the_teachers_class():
    # One 1x1 cell covering a 2x2 label patch: 1 pixel of class 1, 2 of class 0, 1 void.
    shares = label_shares(torch.tensor([[[1, 0], [0, IGNORE]]]), 2, IGNORE, stride=2)
    student, teacher = torch.tensor([[[[0.5]], [[-1.0]]]]), torch.tensor([[[[0.0]], [[2.0]]]])
    # teacher says class 1: right on 1 of the 3 labelled pixels
    expected = 0.25 * _ce(STUDENT[0], 1) / 0.75
    got = sr_f_loss(student, teacher, gate="teacher_right", shares=shares)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="needs the label shares"):
        sr_f_loss(student, teacher, gate="teacher_right")
    with pytest.raises(ValueError, match="'always'"):
        sr_f_loss(student, teacher, gate="always", shares=shares)


def _assert_stacked_is_the_sum(loss, students):
    """``loss`` of the stacked students equals the sum of its per-student values, and so do the gradients."""
    one_by_one = sum(loss(s) for s in students)
    stacked = loss(torch.stack(students))
    assert stacked.item() == pytest.approx(one_by_one.item(), rel=1e-6)
    expected = torch.autograd.grad(one_by_one, students)
    for got, want in zip(torch.autograd.grad(stacked, students), expected):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-8)


def _random_case(g, *shape):
    students = [torch.randn(*shape, generator=g, requires_grad=True) for _ in range(3)]
    shares = label_shares(torch.randint(0, 4, (2, 20, 24), generator=g), 3, 3, stride=4)
    return students, torch.randn(*shape, generator=g), shares


@pytest.mark.parametrize("mode,gate,balanced", [
    ("hard", "none", False), ("hard", "teacher_right", False), ("hard", "teacher_right", True),
    ("hard", "teacher_right_student_wrong", True), ("soft", "teacher_right", True), ("soft", "none", False),
])
def test_sr_f_on_stacked_students_is_the_sum_over_them_values_and_gradients(mode, gate, balanced):
    students, teacher, shares = _random_case(torch.Generator().manual_seed(0), 2, 3, 5, 6)
    kwargs = dict(mode=mode, tau=2.0, gate=gate, shares=shares, class_balanced=balanced)
    _assert_stacked_is_the_sum(lambda s: sr_f_loss(s, teacher, **kwargs), students)


@pytest.mark.parametrize("balanced", [False, True])
def test_label_ce_on_stacked_predictions_is_the_sum_over_them(balanced):
    students, _, shares = _random_case(torch.Generator().manual_seed(1), 2, 3, 5, 6)
    mass = torch.tensor([3.0, 1.5, 7.5])  # as under DDP: the mean over the processes
    _assert_stacked_is_the_sum(lambda s: sem_seg_ce_loss(s, shares, balanced, mass if balanced else None),
                               students)


def test_image_bce_and_sr_l_on_stacked_students_are_the_sums_over_them():
    g = torch.Generator().manual_seed(2)
    image_students, image_teacher, _ = _random_case(g, 2, 3)
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    _assert_stacked_is_the_sum(lambda s: image_cls_loss(s, labels), image_students)
    _assert_stacked_is_the_sum(lambda s: sr_l_loss(s, image_teacher, "image"), image_students)
    pixel_students, pixel_teacher, _ = _random_case(g, 2, 3, 5, 6)
    _assert_stacked_is_the_sum(lambda s: sr_l_loss(s, pixel_teacher, "pixel", tau=2.0), pixel_students)
    with pytest.raises(ValueError, match=r"image_cls_loss: \(2, 3\) and \(2, 4\)"):
        image_cls_loss(torch.stack(image_students), torch.zeros(2, 4))


def test_class_argmax_is_argmax_ties_included():
    logits = torch.randint(0, 3, (2, 5, 4, 6, 7), generator=torch.Generator().manual_seed(3)).float()
    for dim in (1, 2, 4):
        assert torch.equal(class_argmax(logits, dim), logits.argmax(dim=dim))


@pytest.mark.parametrize("doc", ["README.md", "docs/settings.md"])
def test_the_documented_loss_example_runs_as_written(doc):
    import os
    import re

    path = os.path.join(os.path.dirname(__file__), "..", "..", doc)
    with open(path) as f:
        block = next(b for b in re.findall(r"```python\n(.*?)```", f.read(), flags=re.S) if "sr_f_loss(" in b)
    n, c, h, w = 2, 5, 32, 48
    scope = dict(labels=torch.randint(0, c, (n, h, w)), num_classes=c, ignore_value=255,
                 shallow_logits=torch.randn(n, c, h // 4, w // 4, requires_grad=True),
                 deep_logits=torch.randn(n, c, h // 4, w // 4, requires_grad=True),
                 final_logits=torch.randn(n, c, h // 4, w // 4),
                 shallow_cls_logits=torch.randn(n, c, requires_grad=True), final_cls_logits=torch.randn(n, c))
    exec(block, scope)
    scope["loss"].backward()
    assert scope["deep_logits"].grad.abs().sum() > 0 and torch.isfinite(scope["loss"])


def test_sr_f_void_gate_adds_the_void_pixels_at_weight_one():
    # Teacher argmax 0, 1, 0, 1; labels 0, 0, void, 1: pixels 0 and 3 (teacher right) and 2 (void,
    # the teacher's class 0) count, over all 4 pixels.
    shares = label_shares(torch.tensor([[[0, 0], [IGNORE, 1]]]), 2, IGNORE)
    expected = (_ce(STUDENT[0], 0) + _ce(STUDENT[2], 0) + _ce(STUDENT[3], 1)) / 4
    got = sr_f_loss(_logits(STUDENT), _logits(TEACHER), gate="teacher_right_or_void", shares=shares)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    filled = void_to_teacher(shares, _logits(TEACHER).argmax(1))
    assert filled[0, :, 1, 0].tolist() == [1.0, 0.0] and torch.equal(filled.sum(1), torch.ones(1, 2, 2))


def test_local_affinity_by_hand():
    # a 1x2 map of 2-d features (1, 0) and (1, 1): each pixel's only neighbour is at cosine 1/sqrt(2)
    x = torch.tensor([[1.0, 1.0], [0.0, 1.0]]).reshape(1, 2, 1, 2)
    a = local_affinity(x)
    assert a.shape == (1, 8, 1, 2)
    # neighbour order: (dy, dx) over (-1, 0, 1)^2 without (0, 0): index 3 is left, 4 is right
    expected = torch.zeros(1, 8, 1, 2)
    expected[0, 4, 0, 0] = expected[0, 3, 0, 1] = 1 / math.sqrt(2)
    assert torch.allclose(a, expected)


def test_sr_f_affinity_loss_compares_structure_not_values_and_stops_at_the_teacher():
    g = torch.Generator().manual_seed(0)
    teacher = torch.rand(2, 3, 8, 12, generator=g, requires_grad=True)
    pooled = F.avg_pool2d(teacher.detach(), 2)  # the teacher at the student's 4x6
    # the same structure in other values (channels permuted, scaled): no loss
    assert sr_f_affinity_loss(3 * pooled[:, [2, 0, 1]], teacher).item() == pytest.approx(0, abs=1e-6)
    # by hand on a 1x2 student: one neighbour pair per pixel, cosines c_s and c_t
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).reshape(1, 2, 1, 2).requires_grad_()
    one = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]).reshape(1, 2, 1, 4).requires_grad_()
    loss = sr_f_affinity_loss(student, one)  # c_s = 0 (orthogonal), c_t = 1 / sqrt(2)
    assert loss.item() == pytest.approx(0.5, rel=1e-5)  # mean over 2 pixels of (0 - 1/sqrt2)^2
    loss.backward()
    assert one.grad is None and student.grad.abs().sum() > 0
