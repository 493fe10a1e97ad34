import pytest
import torch
import torch.nn.functional as F

from detectron2.layers import ShapeSpec

from sr_d2.modeling import (
    SR_F_FORMS,
    SR_PRESETS,
    SelfRegulation,
    SRFLoss,
    image_cls_loss,
    image_labels_from_mask,
    label_shares,
    random_mask_shares,
    register_sr_f_form,
    sem_seg_ce_loss,
    sr_f_affinity_loss,
    sr_f_loss,
)

C, IGNORE = 3, 255
WEIGHTS = SR_PRESETS["sr-d2"]["weight_dict"]
SHAPES = {"res3": ShapeSpec(channels=6, stride=8), "res2": ShapeSpec(channels=4, stride=4)}


def _settings(preset="sr-d2", **changes):
    """A preset's settings without the exits' norm; ``changes`` replace settings, and update the
    groups (exit_head, sr_f, sr_l) key by key."""
    settings = {**SR_PRESETS[preset], **changes}
    for group, default in (("exit_head", {"norm": ""}), ("sr_f", {}), ("sr_l", {})):
        settings[group] = {**SR_PRESETS[preset][group], **default, **changes.get(group, {})}
    return settings


def _sr(shapes=SHAPES, preset="sr-d2", **changes):
    return SelfRegulation(shapes, num_classes=C, ignore_value=IGNORE, **_settings(preset, **changes))


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
    sr = _sr(sr_f=dict(mode=mode))
    features, final_logits, targets = _inputs()
    losses = sr(features, final_logits, targets)
    teacher_exit = list(sr.exits["res2"].parameters())
    student_classifier = list(sr.exits["res3"].predictor.parameters())
    assert sum(_grads(losses["loss_sr_f"], teacher_exit)) == 0
    assert all(g > 0 for g in _grads(losses["loss_sr_f"], student_classifier))
    assert _grads(losses["loss_sr_f"], [final_logits])[0] > 0


@pytest.mark.parametrize("mode", ["image", "pixel"])
def test_sr_l_teaches_exits_not_the_final_output(mode):
    sr = _sr(sr_l=dict(mode=mode))
    features, final_logits, targets = _inputs()
    losses = sr(features, final_logits, targets)
    assert _grads(losses["loss_sr_l"], [final_logits])[0] == 0
    assert sum(_grads(losses["loss_sr_l"], list(sr.final_image_classifier.parameters()))) == 0
    for name in ("res2", "res3"):
        assert sum(_grads(losses["loss_sr_l"], list(sr.exits[name].parameters()))) > 0


def test_mea_losses_reach_every_exit_and_the_features():
    sr = _sr()
    features, final_logits, targets = _inputs()
    for f in features.values():
        f.requires_grad_()
    losses = sr(features, final_logits, targets)
    for name, exit_head in sr.exits.items():
        assert all(g > 0 for g in _grads(losses["loss_exit_seg"], list(exit_head.predictor.parameters())))
        assert _grads(losses["loss_exit_seg"], [features[name]])[0] > 0
    assert all(g > 0 for g in _grads(losses["loss_exit_cls"], list(sr.final_image_classifier.parameters())))


def _feature_grads(sr, features, final_logits, targets):
    """The losses, and the gradient of their sum with respect to each feature."""
    features = {k: f.clone().requires_grad_() for k, f in features.items()}
    losses = sr(features, final_logits, targets)
    return losses, torch.autograd.grad(sum(losses.values()), list(features.values()), allow_unused=True)


def test_backbone_grad_scale_scales_what_the_exits_send_into_the_features_and_nothing_else():
    inputs = _inputs()
    base = _sr()
    full_losses, full = _feature_grads(base, *inputs)
    sr = _sr(exit_head=dict(backbone_grad_scale=0.1))
    sr.load_state_dict(base.state_dict())
    losses, scaled = _feature_grads(sr, *inputs)
    for key, value in full_losses.items():  # the same forward: equal losses, bit for bit
        assert torch.equal(losses[key], value), key
    for got, want in zip(scaled, full):
        assert torch.allclose(got, 0.1 * want, rtol=1e-5, atol=1e-9)
    sr = _sr(exit_head=dict(backbone_grad_scale=0))
    sr.load_state_dict(base.state_dict())
    losses, detached = _feature_grads(sr, *inputs)
    assert all(g is None for g in detached)
    # the exits still learn, and SR still reaches the final output
    assert all(g > 0 for g in _grads(losses["loss_exit_seg"], list(sr.exits["res2"].predictor.parameters())))
    assert _grads(losses["loss_sr_f"], [inputs[1]])[0] > 0


@pytest.mark.parametrize("setting,message", [
    (dict(weight_dict={**WEIGHTS, "loss_sr_f": "abc"}), r"weight_dict\['loss_sr_f'\] must be a finite number"),
    (dict(weight_dict={**WEIGHTS, "loss_sr_x": 1.0}), "weight_dict must give a weight to each of"),
    (dict(sr_f=dict(gate="sometimes")), "sr_f.gate must be one of"),
    (dict(loss_stride=0), "loss_stride must be an integer"),
    (dict(weight_dict={**WEIGHTS, "loss_sr_l": -0.5}), r"weight_dict\['loss_sr_l'\] must be a finite number >= 0"),
    (dict(label_sampling="bicubic"), "label_sampling"),
    # the default balances SR-F's classes: ungating it alone names the setting to add
    (dict(sr_f=dict(gate="none")), "needs a gate other than 'none'.*set class_balanced=False"),
    (dict(sr_f=dict(class_balanced="yes")), "sr_f.class_balanced must be True or False"),
    (dict(sr_f=dict(form="oracle")), "sr_f.form must be one of"),
    (dict(sr_f=dict(tau=-1.0)), "sr_f.tau must be a finite number > 0"),
    (dict(sr_l=dict(mode="voxel")), "sr_l.mode must be one of"),
    (dict(exit_head=dict(backbone_grad_scale=-1)), "backbone_grad_scale must be a finite number >= 0"),
    (dict(exit_head=dict(dims=8)), "exit_head must give each of"),
    (dict(sr_f=dict(temperature=2.0)), "sr_f must give each of"),
    (dict(sr_f=dict(mode="affinity")), "sr_f.mode must be one of \\('hard', 'soft'\\)"),
    (dict(sr_f=dict(gate="teacher_right_or_void")), "sr_f.gate must be one of \\('none', 'teacher_right'\\)"),
    (dict(sr_f=dict(teacher="res2+res3")), "several teachers are the study form sr_f.form='teacher_ensemble'"),
    (dict(sr_f=dict(form="teacher_affinity")), "teacher_affinity.*label-free.*gate='none'"),
    (dict(sr_f=dict(form="teacher_and_void", gate="none", class_balanced=False)),
     "teacher_and_void.*changes gate 'teacher_right'"),
    (dict(sr_f=dict(form="random_mask", gate="none", class_balanced=False)),
     "random_mask.*gate='teacher_right'"),
    (dict(final_classes=[0, 1]), "final_classes must give each of the 3 classes its final class"),
    (dict(final_classes=[0, 0, 2]), "numbered 0.. without a gap"),
    (dict(final_classes=[0, 0, 1], sr_l=dict(mode="pixel")), "final_classes needs sr_l.mode='image'"),
])
def test_bad_settings_fail_at_build_naming_the_setting(setting, message):
    with pytest.raises(ValueError, match=message):
        _sr(**setting)


def test_final_logits_of_another_class_count_are_refused():
    features, final_logits, targets = _inputs()
    with pytest.raises(ValueError, match="final logits have 4 classes, its final output.s are 3"):
        _sr()(features, torch.cat([final_logits, final_logits[:, :1]], dim=1), targets)


def test_identity_final_classes_change_nothing():
    features, final_logits, targets = _inputs()
    plain, identity = _sr(), _sr(final_classes=[0, 1, 2])
    identity.load_state_dict(plain.state_dict())
    got, want = identity(features, final_logits, targets), plain(features, final_logits, targets)
    for key, value in want.items():
        assert torch.equal(got[key], value), key


def test_grouped_final_classes_the_final_output_learns_its_classes_and_teaches_the_classes_it_keeps():
    # exit classes 0 and 1 are one final class (Panoptic-FPN's "things"), class 2 is final class 1
    sr = _sr(final_classes=[0, 0, 1])
    features, _, targets = _inputs()
    final_logits = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(5), requires_grad=True)
    losses = sr(features, final_logits, targets)

    shares = label_shares(targets, C, IGNORE, stride=4)
    final_shares = torch.cat([shares[:, :2].sum(1, keepdim=True), shares[:, 2:]], dim=1)
    seg = {n: F.interpolate(sr.exits[n](features[n])[0], size=(8, 8), mode="bilinear", align_corners=False)
           for n in ("res2", "res3")}
    cls = torch.stack([sr.exits[n](features[n])[1] for n in ("res2", "res3")])
    p = F.softmax(seg["res2"], dim=1)
    grouped_teacher = torch.cat([p[:, :2].sum(1, keepdim=True), p[:, 2:]], dim=1).log()
    kwargs = dict(gate="teacher_right", class_balanced=True)
    sr_f = (sr_f_loss(seg["res3"], seg["res2"], shares=shares, class_mass=shares.sum((0, 2, 3)), **kwargs)
            + sr_f_loss(final_logits, grouped_teacher, shares=final_shares,
                        class_mass=final_shares.sum((0, 2, 3)), **kwargs))
    assert losses["loss_sr_f"].item() == pytest.approx(WEIGHTS["loss_sr_f"] * sr_f.item(), rel=1e-5)

    final_cls = sr.final_image_classifier(final_logits)
    assert final_cls.shape == (2, 2)
    labels = image_labels_from_mask(targets, C, IGNORE)
    final_labels = torch.stack([labels[:, :2].amax(1), labels[:, 2]], dim=1)
    exit_cls = sum(image_cls_loss(c, labels) for c in cls) + image_cls_loss(final_cls, final_labels)
    assert losses["loss_exit_cls"].item() == pytest.approx(WEIGHTS["loss_exit_cls"] * exit_cls.item(),
                                                           rel=1e-5)

    # SR-L: only exit class 2, which the final output has by itself, learns from it (its class 1)
    target = torch.sigmoid(final_cls[:, 1:]).detach()
    sr_l = sum(F.binary_cross_entropy_with_logits(c[:, 2:], target) for c in cls)
    assert losses["loss_sr_l"].item() == pytest.approx(WEIGHTS["loss_sr_l"] * sr_l.item(), rel=1e-5)
    predictor_bias = sr.exits["res2"].image_classifier.bias
    grad = torch.autograd.grad(losses["loss_sr_l"], predictor_bias)[0]
    assert grad[:2].abs().sum() == 0 and grad[2] != 0


def test_given_image_labels_replace_those_from_the_mask():
    sr = _sr(weight_dict={**WEIGHTS, "loss_exit_seg": 0.0})
    features, final_logits, targets = _inputs()
    from_mask = sr(features, final_logits, targets)["loss_exit_cls"]
    given = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    with_given = sr(features, final_logits, targets, image_labels=given)["loss_exit_cls"]
    cls_logits = [sr.exits[n](features[n])[1] for n in ("res2", "res3")]
    cls_logits.append(sr.final_image_classifier(final_logits))

    def expected(labels):  # loss_exit_cls weighs 0.25: times the BCE of each exit and of the final output
        return 0.25 * sum(image_cls_loss(c, labels) for c in cls_logits).item()

    assert with_given.item() == pytest.approx(expected(given), rel=1e-6)
    assert from_mask.item() == pytest.approx(expected(image_labels_from_mask(targets, C, IGNORE)), rel=1e-6)


def test_official_preset_builds_full_resolution_exits():
    sr = _sr(preset="official")
    assert sr.loss_stride == 1 and sr.exits["res2"].convs[0].weight.shape == (256, 4, 3, 3)
    features, final_logits, targets = _inputs()
    assert set(sr(features, final_logits, targets)) == {
        "loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l"}


def test_a_deeper_sr_f_teacher_teaches_only_the_exits_below_it_and_the_final_output():
    shapes = {**SHAPES, "res4": ShapeSpec(channels=8, stride=16)}
    sr = _sr(shapes, sr_f=dict(teacher="res3"))
    features, final_logits, targets = _inputs()
    features["res4"] = torch.randn(2, 8, 2, 2)
    loss = sr(features, final_logits, targets)["loss_sr_f"]
    assert sum(_grads(loss, list(sr.exits["res2"].parameters()))) == 0  # not an SR-F party
    assert sum(_grads(loss, list(sr.exits["res3"].parameters()))) == 0  # the teacher
    assert sum(_grads(loss, list(sr.exits["res4"].parameters()))) > 0
    assert _grads(loss, [final_logits])[0] > 0
    with pytest.raises(ValueError, match=r"sr_f.teacher='res4' must be an exit with a deeper one"):
        _sr(shapes, sr_f=dict(teacher="res4"))


def test_an_ensemble_teacher_is_the_mean_of_its_exits_probabilities_and_teaches_the_exits_after_it():
    shapes = {**SHAPES, "res4": ShapeSpec(channels=8, stride=16)}
    sr = _sr(shapes, sr_f=dict(teacher="res3+res2", form="teacher_ensemble"))
    features, final_logits, targets = _inputs()
    features["res4"] = torch.randn(2, 8, 2, 2)
    loss = sr(features, final_logits, targets)["loss_sr_f"]
    shares = label_shares(targets, C, IGNORE, stride=4)
    seg = {n: F.interpolate(sr.exits[n](features[n])[0], size=tuple(shares.shape[-2:]), mode="bilinear",
                            align_corners=False) for n in ("res2", "res3", "res4")}
    teacher = torch.log((F.softmax(seg["res2"], dim=1) + F.softmax(seg["res3"], dim=1)) / 2)
    expected = WEIGHTS["loss_sr_f"] * sum(
        sr_f_loss(s, teacher, gate="teacher_right", shares=shares, class_balanced=True)
        for s in (seg["res4"], final_logits))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    for teacher_exit in ("res2", "res3"):
        assert sum(_grads(loss, list(sr.exits[teacher_exit].parameters()))) == 0
    assert sum(_grads(loss, list(sr.exits["res4"].parameters()))) > 0
    with pytest.raises(ValueError, match="sr_f.teacher='res2\\+res4' must be an exit with a deeper one after it"):
        _sr(shapes, sr_f=dict(teacher="res2+res4", form="teacher_ensemble"))


@pytest.mark.parametrize("balanced", [True, False])
def test_labels_target_teaches_the_same_students_the_labels_without_the_teacher(balanced):
    # The balanced-ce / plain-ce controls: SR-F's students below the res3 teacher learn the labels.
    shapes = {**SHAPES, "res4": ShapeSpec(channels=8, stride=16)}
    sr = _sr(shapes, sr_f=dict(teacher="res3", form="labels", class_balanced=balanced))
    features, final_logits, targets = _inputs()
    features["res4"] = torch.randn(2, 8, 2, 2)
    loss = sr(features, final_logits, targets)["loss_sr_f"]
    shares = label_shares(targets, C, IGNORE, stride=4)
    student = F.interpolate(sr.exits["res4"](features["res4"])[0], size=tuple(shares.shape[-2:]),
                            mode="bilinear", align_corners=False)
    mass = shares.sum(dim=(0, 2, 3))
    # by hand: -shares * log p summed per class (balanced) or overall; the final logits are 8x8
    terms = [-(shares * F.log_softmax(s, dim=1)) for s in (student, final_logits)]
    if balanced:
        per_student = [(t.sum(dim=(0, 2, 3)) / mass).sum() / (mass > 0).sum() for t in terms]
    else:
        per_student = [t.sum() / mass.sum() for t in terms]
    expected = WEIGHTS["loss_sr_f"] * sum(per_student)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert sum(_grads(loss, list(sr.exits["res2"].parameters()))) == 0
    assert sum(_grads(loss, list(sr.exits["res3"].parameters()))) == 0  # no teacher at all
    assert sum(_grads(loss, list(sr.exits["res4"].parameters()))) > 0
    assert _grads(loss, [final_logits])[0] > 0


def test_class_balanced_sr_f_is_the_loss_function_over_every_student():
    sr = _sr(sr_f=dict(class_balanced=True))
    features, final_logits, targets = _inputs()
    got = sr(features, final_logits, targets)["loss_sr_f"]
    shares = label_shares(targets, C, IGNORE, stride=4)  # the preset's stride and area sampling
    size = tuple(shares.shape[-2:])
    teacher, student = (F.interpolate(sr.exits[n](features[n])[0], size=size, mode="bilinear",
                                      align_corners=False) for n in ("res2", "res3"))
    expected = WEIGHTS["loss_sr_f"] * sum(
        sr_f_loss(s, teacher, gate="teacher_right", shares=shares, class_balanced=True)
        for s in (student, final_logits))
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    unbalanced = WEIGHTS["loss_sr_f"] * sum(
        sr_f_loss(s, teacher, gate="teacher_right", shares=shares) for s in (student, final_logits))
    assert got.item() != pytest.approx(unbalanced.item(), rel=1e-3)  # the balance changes the loss


def test_random_mask_keeps_the_teachers_mass_per_class_elsewhere():
    g = torch.Generator().manual_seed(3)
    targets = torch.randint(0, C, (2, 32, 32), generator=g)
    targets[:, :5] = IGNORE
    shares = label_shares(targets, C, IGNORE, stride=4)
    teacher_labels = torch.randint(0, C - 1, (2, 8, 8), generator=g)  # never the last class
    torch.manual_seed(0)
    kept = random_mask_shares(shares, teacher_labels)
    teacher_mask = shares * F.one_hot(teacher_labels, C).permute(0, 3, 1, 2)  # shares[t] at t
    assert torch.allclose(kept.sum(dim=(0, 2, 3)), teacher_mask.sum(dim=(0, 2, 3)), atol=1e-4)
    assert kept[:, C - 1].sum() == 0 and (kept >= 0).all() and (kept <= shares + 1e-6).all()
    torch.manual_seed(1)
    other = random_mask_shares(shares, teacher_labels)
    assert torch.allclose(other.sum(dim=(0, 2, 3)), kept.sum(dim=(0, 2, 3)), atol=1e-4)
    assert not torch.allclose(other, kept) and not torch.allclose(kept, teacher_mask)


def test_random_mask_target_is_the_balanced_label_ce_on_the_random_mask_without_the_teacher():
    shapes = {**SHAPES, "res4": ShapeSpec(channels=8, stride=16)}
    sr = _sr(shapes, sr_f=dict(teacher="res3", form="random_mask"))
    features, final_logits, targets = _inputs()
    features["res4"] = torch.randn(2, 8, 2, 2)
    torch.manual_seed(5)
    loss = sr(features, final_logits, targets)["loss_sr_f"]
    shares = label_shares(targets, C, IGNORE, stride=4)
    size = tuple(shares.shape[-2:])
    exit_logits = {n: F.interpolate(sr.exits[n](features[n])[0], size=size, mode="bilinear",
                                    align_corners=False) for n in ("res3", "res4")}
    teacher_labels = exit_logits["res3"].argmax(1)
    torch.manual_seed(5)  # the same draws: the exits' mask, then the final output's
    masks = [random_mask_shares(shares, teacher_labels) for _ in range(2)]
    mass = shares.sum(dim=(0, 2, 3))
    per_student = [(-(m * F.log_softmax(s, dim=1))).sum(dim=(0, 2, 3)).div(mass).sum() / (mass > 0).sum()
                   for m, s in zip(masks, (exit_logits["res4"], final_logits))]
    assert loss.item() == pytest.approx(WEIGHTS["loss_sr_f"] * sum(per_student).item(), rel=1e-5)
    assert sum(_grads(loss, list(sr.exits["res3"].parameters()))) == 0  # the teacher only picks the mass
    assert sum(_grads(loss, list(sr.exits["res4"].parameters()))) > 0


def test_void_gate_teaches_the_void_cells_too():
    features, final_logits, targets = _inputs()  # rows 0-3 void: the first row of 4x4 cells
    grads = {}
    for form in ("teacher", "teacher_and_void"):
        loss = _sr(sr_f=dict(form=form))(features, final_logits, targets)["loss_sr_f"]
        grads[form] = torch.autograd.grad(loss, final_logits)[0].abs().sum(dim=(0, 1))  # (8, 8)
    assert grads["teacher"][0].sum() == 0 and (grads["teacher_and_void"][0] > 0).all()


def test_sr_f_on_features_regulates_the_students_features_not_the_teacher():
    sr = _sr(sr_f=dict(form="teacher_affinity", gate="none", class_balanced=False))
    assert sorted(sr.sr_f.projections) == ["res3"]
    features, final_logits, targets = _inputs()
    for f in features.values():
        f.requires_grad_()
    loss = sr(features, final_logits, targets)["loss_sr_f"]
    expected = WEIGHTS["loss_sr_f"] * (
        sr_f_affinity_loss(sr.sr_f.projections["res3"](features["res3"]), features["res2"])
        + sr_f_affinity_loss(sr.sr_f.final_projection(final_logits), features["res2"]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert _grads(loss, [features["res2"]])[0] == 0  # the teacher's features are detached
    assert _grads(loss, [features["res3"]])[0] > 0 and _grads(loss, [final_logits])[0] > 0
    assert sum(_grads(loss, list(sr.exits.parameters()))) == 0  # no exit head is a student here
    assert all(g > 0 for g in _grads(loss, list(sr.sr_f.projections.parameters())))


def test_an_sr_f_teacher_at_the_stride_of_another_exit_is_the_shallower():
    # detectron2's stem and res2 both have stride 4: the stem, named teacher, comes first
    shapes = {"res2": ShapeSpec(channels=4, stride=4), "stem": ShapeSpec(channels=4, stride=4),
              "res3": ShapeSpec(channels=6, stride=8)}
    assert _sr(shapes).in_features == ["res2", "stem", "res3"]
    sr = _sr(shapes, sr_f=dict(teacher="stem"))
    assert sr.in_features == ["stem", "res2", "res3"]
    features, final_logits, targets = _inputs()
    features["stem"] = torch.randn(2, 4, 8, 8)
    loss = sr(features, final_logits, targets)["loss_sr_f"]
    assert sum(_grads(loss, list(sr.exits["stem"].parameters()))) == 0
    assert sum(_grads(loss, list(sr.exits["res2"].predictor.parameters()))) > 0


def test_a_form_registered_in_sr_f_forms_is_reached_by_its_name():
    @register_sr_f_form("twice_the_labels")
    class TwiceTheLabels(SRFLoss):
        balances_by_gate = False

        def loss(self, students, teacher, shares, mass):
            return 2 * sem_seg_ce_loss(students, shares)

    try:
        with pytest.raises(ValueError, match="'twice_the_labels' is already registered"):
            register_sr_f_form("twice_the_labels")(SRFLoss)
        sr = _sr(sr_f=dict(form="twice_the_labels", class_balanced=False))
        features, final_logits, targets = _inputs()
        loss = sr(features, final_logits, targets)["loss_sr_f"]
    finally:
        SR_F_FORMS.pop("twice_the_labels")
    shares = label_shares(targets, C, IGNORE, stride=4)
    student = F.interpolate(sr.exits["res3"](features["res3"])[0], size=tuple(shares.shape[-2:]),
                            mode="bilinear", align_corners=False)
    # by hand: -shares * log p over the labelled mass, for the res3 exit and the final output
    expected = sum(-(shares * F.log_softmax(s, dim=1)).sum() / shares.sum() for s in (student, final_logits))
    assert loss.item() == pytest.approx(WEIGHTS["loss_sr_f"] * 2 * expected.item(), rel=1e-5)
    assert sum(_grads(loss, list(sr.exits["res2"].parameters()))) == 0  # no teacher in it
