"""
The forms of SR-F the studies train beside the method, each registered in ``SR_F_FORMS`` and
chosen by name (``model.self_regulation.sr_f.form=labels``); docs/settings.md lists them with the
studies that used them. Each changes one piece of :class:`SRFLoss`: what the students learn
(the controls "labels" and "random_mask"), which pixels ("teacher_student_wrong",
"teacher_and_void"), the teacher ("teacher_ensemble") or what is regulated ("teacher_affinity").
"""
import math
from typing import Dict, List, Optional, Set

import torch
from torch import nn
from torch.nn import functional as F

import fvcore.nn.weight_init as weight_init

from detectron2.layers import Conv2d, ShapeSpec

from .criterion import SR_F_FORMS, SRFLoss, register_sr_f_form
from .exit_head import grad_scaled
from .losses import class_argmax, sem_seg_ce_loss, sr_f_affinity_loss, sr_f_loss, void_to_teacher

__all__ = ["AffinityForm", "EnsembleForm", "LabelsForm", "RandomMaskForm", "StudentWrongForm", "VoidForm",
           "random_mask_shares"]


@register_sr_f_form("labels")
class LabelsForm(SRFLoss):
    """Control without a teacher: the same students, weight and schedule learn the label shares
    (class-balanced as ``class_balanced`` says; mode, tau and gate do not apply)."""

    balances_by_gate = False

    def loss(self, students, teacher, shares, mass):
        return sem_seg_ce_loss(students, shares, self.class_balanced, mass)


@register_sr_f_form("random_mask")
class RandomMaskForm(SRFLoss):
    """Control of the teacher's mask: the label shares on a random mask of the teacher mask's
    per-class mass (:func:`random_mask_shares`): which pixels the teacher picks, not how many."""

    def problems(self) -> List[str]:
        problems = super().problems()
        if not problems and (self.gate != "teacher_right" or self.mode != "hard"):
            problems.append("sr_f.form='random_mask' matches the mask of gate='teacher_right' with "
                            f"mode='hard'; got {self.gate!r}, {self.mode!r}")
        return problems

    def loss(self, students, teacher, shares, mass):
        kept = random_mask_shares(shares, class_argmax(teacher.detach(), dim=1))
        return sem_seg_ce_loss(students, kept, self.class_balanced, mass)


class _TeacherRightForm(SRFLoss):
    """A form that narrows or widens gate "teacher_right" (the only gate it takes)."""

    def problems(self) -> List[str]:
        problems = super().problems()
        if not problems and self.gate != "teacher_right":
            form = next(name for name, cls in SR_F_FORMS.items() if cls is type(self))
            problems.append(f"sr_f.form={form!r} changes gate 'teacher_right'; got gate={self.gate!r}")
        return problems


@register_sr_f_form("teacher_student_wrong")
class StudentWrongForm(_TeacherRightForm):
    """SR-F only where the teacher is right and the student's argmax is not the teacher's: the
    detail the shallow teacher gets and the deeper student misses (:func:`sr_f_loss`)."""

    def loss(self, students, teacher, shares, mass):
        return sr_f_loss(students, teacher, self.mode, self.tau, "teacher_right_student_wrong", shares,
                         self.class_balanced, mass)


@register_sr_f_form("teacher_and_void")
class VoidForm(_TeacherRightForm):
    """SR-F where the teacher is right and on the unlabelled (void) share of each cell, given to
    the teacher's class (:func:`void_to_teacher`, class mass included), as the official code."""

    def forward(self, sr, seg, teacher, final_seg, shares, features, final_logits):
        shares = void_to_teacher(shares, class_argmax(teacher, dim=1))
        return super().forward(sr, seg, teacher, final_seg, shares, features, final_logits)

    def loss(self, students, teacher, shares, mass):
        return sr_f_loss(students, teacher, self.mode, self.tau, "teacher_right_or_void", shares,
                         self.class_balanced, mass)


@register_sr_f_form("teacher_ensemble")
class EnsembleForm(SRFLoss):
    """Several exits teach as one, ``teacher`` joining their names by "+" ("res2+res3"): the log
    of their mean class probabilities; the students are the exits after the deepest."""

    @classmethod
    def teacher_names(cls, teacher: Optional[str]) -> Optional[Set[str]]:
        return None if teacher is None else set(str(teacher).split("+"))

    def teacher_logits(self, seg: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(seg[self.teachers], dim=2)
        return torch.logsumexp(log_p, dim=0) - math.log(len(self.teachers))


@register_sr_f_form("teacher_affinity")
class AffinityForm(SRFLoss):
    """
    SR-F on features, label-free: each student's features (the deeper exits' inputs and the final
    logits, each through a 1x1 projection to the exits' ``conv_dims`` channels, training only) keep
    the local affinities of the teacher exit's input (:func:`sr_f_affinity_loss`).
    """

    balances_by_gate = False

    def __init__(self, *, exits: Dict[str, ShapeSpec], num_final_classes: int, conv_dims: int,
                 backbone_grad_scale: float, **settings):
        super().__init__(exits=exits, **settings)
        names = list(exits)
        self.teacher_feature = names[self.teachers[0]]
        self.projections = nn.ModuleDict(
            {name: _projection(exits[name].channels, conv_dims) for name in names[self.teachers[0] + 1 :]})
        self.final_projection = _projection(num_final_classes, conv_dims)
        self.backbone_grad_scale = backbone_grad_scale

    def problems(self) -> List[str]:
        problems = super().problems()
        if not problems and (self.gate != "none" or self.class_balanced):
            problems.append("sr_f.form='teacher_affinity' (SR-F on features) is label-free: it needs gate='none' "
                            f"and class_balanced=False; got {self.gate!r}, {self.class_balanced!r}")
        return problems

    def forward(self, sr, seg, teacher, final_seg, shares, features, final_logits):
        target = features[self.teacher_feature]
        loss = sr_f_affinity_loss(self.final_projection(final_logits.float()), target)
        for name, projection in self.projections.items():
            loss = loss + sr_f_affinity_loss(projection(grad_scaled(features[name], self.backbone_grad_scale)),
                                             target)
        return loss


def _projection(in_channels: int, out_channels: int) -> Conv2d:
    """A 1x1 conv, MSRA-initialised: a student's features projected for SR-F on features."""
    conv = Conv2d(in_channels, out_channels, kernel_size=1)
    weight_init.c2_msra_fill(conv)
    return conv


@torch.no_grad()
def random_mask_shares(shares: torch.Tensor, teacher_labels: torch.Tensor) -> torch.Tensor:
    """
    The control of the teacher's mask: (N, C, h, w) label shares kept on a random mask that holds,
    for each class c, the mass the teacher's "teacher_right" mask keeps of it (the shares of c
    where the (N, h, w) ``teacher_labels`` are c): c's cells in a random order, each kept whole
    until that mass is reached, the last one in part. Where the teacher's mask is, is lost.
    """
    n, c, h, w = shares.shape
    right = shares.gather(1, teacher_labels[:, None]).flatten()
    wanted = shares.new_zeros(c).index_add_(0, teacher_labels.flatten(), right)  # (C,) the teacher's
    flat = shares.transpose(0, 1).reshape(c, -1)  # (C, N*h*w)
    order = torch.rand(flat.shape, device=flat.device).argsort(dim=1)
    ordered = flat.gather(1, order)
    before = ordered.cumsum(dim=1) - ordered  # mass of the cells ahead in the order
    kept = ordered * ((wanted[:, None] - before) / ordered.clamp(min=1e-12)).clamp(0, 1)
    return torch.zeros_like(flat).scatter_(1, order, kept).view(c, n, h, w).transpose(0, 1)
