"""
SR-F and SR-L as :class:`SelfRegulation` computes them. SR-F is a module chosen by name in
``SR_F_FORMS`` (``sr_f.form``): the method, "teacher" (:class:`SRFLoss`), or a form the
studies train (``sr_d2.modeling.study_forms``), each a subclass that changes one piece of it.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Set, Type

import torch
from torch import nn

from detectron2.layers import ShapeSpec
from detectron2.utils import comm

from ..utils import is_setting
from .losses import sr_f_loss, sr_l_loss

__all__ = ["SR_F_FORMS", "SRFLoss", "SRLLoss", "class_mass", "register_sr_f_form"]

# Forms of SR-F by name (``sr_f.form``): :class:`SRFLoss` (the method, "teacher") and its
# subclasses, each built with SR-F's settings and the exits, computing the unweighted SR-F loss.
SR_F_FORMS: Dict[str, Type["SRFLoss"]] = {}


def register_sr_f_form(name: str) -> Callable[[type], type]:
    """Class decorator: the :class:`SRFLoss` subclass is SR-F's form ``name``
    (``model.self_regulation.sr_f.form=<name>``); ValueError if the name is taken."""
    def register(cls: type) -> type:
        if name in SR_F_FORMS:
            raise ValueError(f"SR-F form {name!r} is already registered ({SR_F_FORMS[name].__name__})")
        SR_F_FORMS[name] = cls
        return cls
    return register

SR_F_MODES = ("hard", "soft")
SR_F_GATES = ("none", "teacher_right")
SR_L_MODES = ("image", "pixel")


@torch.no_grad()
def class_mass(shares: torch.Tensor) -> torch.Tensor:
    """(C,) labelled mass per class of (N, C, h, w) shares; under DDP the mean over processes."""
    mass = shares.sum(dim=(0, 2, 3))
    if comm.get_world_size() > 1:
        torch.distributed.all_reduce(mass)
        mass /= comm.get_world_size()
    return mass


@register_sr_f_form("teacher")
class SRFLoss(nn.Module):
    """
    SR-F, the method's shallow-to-deep loss (on the exits' logits, as the official code).

    The ``teacher`` exit (None: the shallowest) teaches the exits after it
    and the final output, by ``mode`` "hard" (CE to its argmax) or "soft" (KL at ``tau``), on the
    pixels ``gate`` keeps ("none" or "teacher_right"), each class weighing the same with
    ``class_balanced`` (see :func:`sr_f_loss`).
    """

    # class balance weighs the gated terms by the labels' classes, so it needs a gate
    balances_by_gate = True

    def __init__(self, *, teacher: Optional[str], mode: str, tau: float, gate: str, class_balanced: bool,
                 exits: Dict[str, ShapeSpec], **unused):
        """
        Args:
            teacher, mode, tau, gate, class_balanced: SR-F's settings, above.
            exits: the exits' shapes by name, shallow to deep (at equal stride, the teacher first).
            unused: what other forms take (the final output's classes, the exits' conv_dims and
                backbone_grad_scale).
        """
        super().__init__()
        self.teacher, self.mode, self.tau, self.gate, self.class_balanced = teacher, mode, tau, gate, class_balanced
        problems = self.problems()
        names = list(exits)
        teachers = self.teacher_names(teacher) or {names[0]}
        if not problems and not teachers <= set(names[:-1]):
            problems.append(f"sr_f.teacher={teacher!r} must be an exit with a deeper one after it, one of "
                            f"{names[:-1]}")
        if problems:
            raise ValueError("SelfRegulation: " + "; ".join(problems))
        # indices of the teacher exits; the students are the exits after the deepest, and the output
        self.teachers: List[int] = sorted(names.index(t) for t in teachers)

    def problems(self) -> List[str]:
        """What is wrong with the settings, each naming its setting."""
        problems = []
        for name, value, allowed in (("mode", self.mode, SR_F_MODES), ("gate", self.gate, SR_F_GATES)):
            if value not in allowed:
                problems.append(f"sr_f.{name} must be one of {allowed}, got {value!r}")
        if not is_setting(self.tau, above=True):
            problems.append(f"sr_f.tau must be a finite number > 0 (it divides the logits), got {self.tau!r}")
        if not (self.teacher is None or isinstance(self.teacher, str)):
            problems.append(f"sr_f.teacher must be a feature name or None; got {self.teacher!r}")
        if not isinstance(self.class_balanced, bool):
            problems.append(f"sr_f.class_balanced must be True or False, got {self.class_balanced!r}")
        elif self.class_balanced and self.gate == "none" and self.balances_by_gate:
            problems.append("sr_f.class_balanced=True (sr-d2's default) needs a gate other than 'none' "
                            "(it balances the labels' classes): with gate='none' set class_balanced=False")
        return problems

    @classmethod
    def teacher_names(cls, teacher: Optional[str]) -> Optional[Set[str]]:
        """The teacher exits' names in setting ``teacher``; None: the shallowest exit."""
        if teacher is not None and "+" in str(teacher):
            raise ValueError(f"SelfRegulation: sr_f.teacher={teacher!r}: several teachers are the study form "
                             "sr_f.form='teacher_ensemble'")
        return None if teacher is None else {teacher}

    def teacher_logits(self, seg: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) the teacher's logits from the (K, N, C, h, w) exits' logits."""
        return seg[self.teachers[0]]

    def forward(self, sr, seg: torch.Tensor, teacher: torch.Tensor, final_seg: torch.Tensor,
                shares: torch.Tensor, features: Dict[str, torch.Tensor], final_logits: torch.Tensor) -> torch.Tensor:
        """
        The unweighted SR-F of the exits after the teacher and of the final output.

        Args:
            sr: the SelfRegulation calling (it maps the exits' classes into the final output's).
            seg: (K, N, C, h, w) the exits' logits; teacher: (N, C, h, w) :meth:`teacher_logits`;
            final_seg: (N, C_final, h, w) the final logits at the loss size; shares: (N, C, h, w)
                the label shares; features, final_logits: as SelfRegulation is given them.
        """
        mass = class_mass(shares) if self.class_balanced else None
        final_mass = None if mass is None else sr.summed_into_final(mass, dim=0)
        return self.loss(seg[self.teachers[-1] + 1 :], teacher, shares, mass) + self.loss(
            final_seg, sr.teacher_in_final_classes(teacher), sr.summed_into_final(shares, dim=1), final_mass)

    def loss(self, students: torch.Tensor, teacher: torch.Tensor, shares: torch.Tensor,
             mass: Optional[torch.Tensor]) -> torch.Tensor:
        """SR-F of (S, N, C, h, w) or (N, C, h, w) students, given the (N, C, h, w) teacher logits, the
        label shares and the (C,) class mass (when class-balanced)."""
        return sr_f_loss(students, teacher, self.mode, self.tau, self.gate, shares, self.class_balanced, mass)


@dataclass(frozen=True)
class SRLLoss:
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
