"""
SR-F and SR-L as the criteria :class:`SelfRegulation` is given: their settings, checked once, and
their losses on stacked logits. What SR-F's students learn is a registered target
(``SR_F_TARGETS``): the teacher (the method) or a control that takes the teacher out.
"""
from dataclasses import dataclass
from typing import Optional

import torch

from detectron2.utils.registry import Registry

from ..utils import is_setting
from .losses import SR_F_GATES, class_argmax, sem_seg_ce_loss, sr_f_loss, sr_l_loss

__all__ = ["SR_F_TARGETS", "SRFeatureLoss", "SRLogitLoss", "random_mask_shares"]

SR_F_TARGETS = Registry("SR_F_TARGETS")
SR_F_TARGETS.__doc__ = """
What SR-F's students learn, by name (``SRFeatureLoss.target``). Each is called as
``fn(sr_f, students, teacher, shares, mass)`` with the :class:`SRFeatureLoss`, the (S, N, C, h, w)
or (N, C, h, w) student logits, the (N, C, h, w) teacher logits, the label shares and the (C,)
class mass (None unless class-balanced), and returns the unweighted scalar loss.
"""

SR_F_MODES = ("hard", "soft", "affinity")
SR_L_MODES = ("image", "pixel")


@dataclass(frozen=True)
class SRFeatureLoss:
    """
    SR-F, shallow to deep: which exit teaches (``teacher``: a feature name, several joined by "+"
    for an ensemble, None for the shallowest), what its students learn (``target``, a name in
    ``SR_F_TARGETS``), and the loss's ``mode``, ``tau``, ``gate`` and ``class_balanced`` (see
    :func:`sr_f_loss`; mode "affinity" is SR-F on features, computed by :class:`SelfRegulation`).
    """

    teacher: Optional[str]
    target: str
    mode: str
    tau: float
    gate: str
    class_balanced: bool

    def __post_init__(self):
        problems = []
        choices = {"mode": (self.mode, SR_F_MODES), "gate": (self.gate, SR_F_GATES),
                   "target": (self.target, tuple(name for name, _ in SR_F_TARGETS))}
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                problems.append(f"sr_f.{name} must be one of {allowed}, got {value!r}")
        if not is_setting(self.tau, above=True):
            problems.append(f"sr_f.tau must be a finite number > 0 (it divides the logits), got {self.tau!r}")
        if not (self.teacher is None or isinstance(self.teacher, str)):
            problems.append(f"sr_f.teacher must be a feature name, names joined by '+', or None; got {self.teacher!r}")
        if not isinstance(self.class_balanced, bool):
            problems.append(f"sr_f.class_balanced must be True or False, got {self.class_balanced!r}")
        elif self.mode == "affinity" and (self.gate != "none" or self.target != "teacher" or self.class_balanced):
            problems.append("sr_f.mode='affinity' (SR-F on features) is label-free: it needs gate='none', "
                            f"target='teacher', class_balanced=False; got {self.gate!r}, {self.target!r}, "
                            f"{self.class_balanced!r}")
        elif self.target == "random_mask" and (self.gate != "teacher_right" or self.mode != "hard"):
            problems.append("sr_f.target='random_mask' matches the mask of gate='teacher_right' with "
                            f"mode='hard'; got {self.gate!r}, {self.mode!r}")
        elif self.class_balanced and self.gate == "none" and self.target == "teacher":
            problems.append("sr_f.class_balanced=True (sr-d2's default) needs a gate other than 'none' "
                            "(it balances the labels' classes): with gate='none' set class_balanced=False")
        if problems:
            raise ValueError("SelfRegulation: " + "; ".join(problems))

    @property
    def teachers(self) -> Optional[set]:
        """The teacher exits' names; None: the shallowest exit."""
        return None if self.teacher is None else set(self.teacher.split("+"))

    def __call__(self, students: torch.Tensor, teacher: torch.Tensor, shares: torch.Tensor,
                 mass: Optional[torch.Tensor]) -> torch.Tensor:
        """The unweighted SR-F of (S, N, C, h, w) or (N, C, h, w) students, given the (N, C, h, w)
        teacher logits, the label shares and the (C,) class mass (when class-balanced)."""
        return SR_F_TARGETS.get(self.target)(self, students, teacher, shares, mass)


@SR_F_TARGETS.register()
def teacher(sr_f: SRFeatureLoss, students, teacher, shares, mass) -> torch.Tensor:
    """SR-F itself: the students learn the teacher (:func:`sr_f_loss`)."""
    return sr_f_loss(students, teacher, sr_f.mode, sr_f.tau, sr_f.gate, shares, sr_f.class_balanced, mass)


@SR_F_TARGETS.register()
def labels(sr_f: SRFeatureLoss, students, teacher, shares, mass) -> torch.Tensor:
    """Control without a teacher: the same students learn the label shares (mode, tau and gate do
    not apply)."""
    return sem_seg_ce_loss(students, shares, sr_f.class_balanced, mass)


@SR_F_TARGETS.register()
def random_mask(sr_f: SRFeatureLoss, students, teacher, shares, mass) -> torch.Tensor:
    """Control of the teacher's mask: the label shares on a random mask of the teacher mask's
    per-class mass (:func:`random_mask_shares`): which pixels the teacher picks, not how many."""
    kept = random_mask_shares(shares, class_argmax(teacher.detach(), dim=1))
    return sem_seg_ce_loss(students, kept, sr_f.class_balanced, mass)


@dataclass(frozen=True)
class SRLogitLoss:
    """SR-L, deep to shallow: the final output teaches the exits, ``mode`` "image" (image-level
    BCE, the official code) or "pixel" (KL at ``tau``), see :func:`sr_l_loss`."""

    mode: str
    tau: float

    def __post_init__(self):
        problems = []
        if self.mode not in SR_L_MODES:
            problems.append(f"sr_l.mode must be one of {SR_L_MODES}, got {self.mode!r}")
        if not is_setting(self.tau, above=True):
            problems.append(f"sr_l.tau must be a finite number > 0 (it divides the logits), got {self.tau!r}")
        if problems:
            raise ValueError("SelfRegulation: " + "; ".join(problems))

    def __call__(self, seg: torch.Tensor, cls: torch.Tensor, final_seg: torch.Tensor,
                 final_cls: torch.Tensor) -> torch.Tensor:
        """The unweighted SR-L of the (K, N, C, h, w) and (K, N, C) exits' logits, taught by the
        final output's (N, C, h, w) and (N, C)."""
        if self.mode == "image":
            return sr_l_loss(cls, final_cls, "image")
        return sr_l_loss(seg, final_seg, "pixel", self.tau)


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
