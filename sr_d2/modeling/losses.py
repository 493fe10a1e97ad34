"""
The losses of Self-Regulation, as plain functions on tensors, usable in any model.

Shapes: N images, C classes, (h, w) the loss resolution. Every SR loss detaches its teacher
itself, so a caller cannot let the teacher learn from the loss it teaches.
"""
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = [
    "image_labels_from_mask",
    "image_cls_loss",
    "sem_seg_ce_loss",
    "sr_f_loss",
    "sr_l_loss",
]


def image_labels_from_mask(targets: torch.Tensor, num_classes: int, ignore_value: int) -> torch.Tensor:
    """
    Args:
        targets: (N, H, W) int64 label maps.
    Returns:
        (N, C) float multi-hot: 1 where class c occurs in image n (void pixels ignored).
    """
    n = targets.shape[0]
    flat = targets.reshape(n, -1)
    valid = (flat != ignore_value) & (flat >= 0) & (flat < num_classes)
    index = (torch.arange(n, device=targets.device)[:, None] * num_classes + flat)[valid]
    counts = torch.bincount(index, minlength=n * num_classes)
    return (counts > 0).to(torch.float32).view(n, num_classes)


def sem_seg_ce_loss(logits: torch.Tensor, targets: torch.Tensor, ignore_value: int) -> torch.Tensor:
    """
    Pixel cross-entropy, mean over non-void pixels.

    Args:
        logits: (N, C, h, w); targets: (N, h, w) int64, ``ignore_value`` for void.
    """
    return F.cross_entropy(logits.float(), targets, ignore_index=ignore_value)


def image_cls_loss(cls_logits: torch.Tensor, image_labels: torch.Tensor) -> torch.Tensor:
    """
    Image-level multi-label BCE, mean over images and classes.

    Args:
        cls_logits: (N, C) logits; image_labels: (N, C) in [0, 1].
    """
    return F.binary_cross_entropy_with_logits(cls_logits.float(), image_labels.float())


def _pixel_kl(student: torch.Tensor, teacher: torch.Tensor, tau: float) -> torch.Tensor:
    """(N, C, h, w) -> (N, h, w): KL(softmax(teacher / tau) || softmax(student / tau)) per pixel."""
    log_p_teacher = F.log_softmax(teacher.float() / tau, dim=1)
    log_p_student = F.log_softmax(student.float() / tau, dim=1)
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=1)


def _check_same_shape(student: torch.Tensor, teacher: torch.Tensor, name: str) -> None:
    if student.shape != teacher.shape:
        raise ValueError(f"{name}: student {tuple(student.shape)} and teacher "
                         f"{tuple(teacher.shape)} must have the same shape")


def sr_f_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    mode: str = "hard",
    tau: float = 1.0,
    min_confidence: float = 0.0,
    labels: Optional[torch.Tensor] = None,
    ignore_value: int = -1,
) -> torch.Tensor:
    """
    Shallow-to-deep SR: a shallow exit's segmentation logits teach a deeper student.

    Args:
        student, teacher: (N, C, h, w) segmentation logits; the teacher is detached here.
        mode: "hard": cross-entropy against the teacher's argmax (the official code);
            "soft": KL divergence between the tau-softened distributions, times tau^2.
        tau: softmax temperature ("soft" only).
        min_confidence: pixels where the teacher's top probability (at temperature 1) is below
            this are left out; 0 keeps every pixel (void included: SR needs no labels).
        labels: (N, h, w) int64; when given, only pixels where the teacher's argmax equals the
            label are kept (void, ``ignore_value``, left out): SR-F never contradicts the labels.
    Returns:
        scalar, mean over the pixels kept (0 if none).
    """
    _check_same_shape(student, teacher, "sr_f_loss")
    teacher = teacher.detach().float()
    teacher_labels = teacher.argmax(dim=1)
    if mode == "hard":
        per_pixel = F.cross_entropy(student.float(), teacher_labels, reduction="none")
    elif mode == "soft":
        per_pixel = _pixel_kl(student, teacher, tau) * tau**2
    else:
        raise ValueError(f"sr_f_loss: mode must be 'hard' or 'soft', not {mode!r}")
    if min_confidence <= 0 and labels is None:
        return per_pixel.mean()
    keep = torch.ones_like(per_pixel, dtype=torch.bool)
    if min_confidence > 0:
        keep &= F.softmax(teacher, dim=1).amax(dim=1) >= min_confidence
    if labels is not None:
        keep &= (teacher_labels == labels) & (labels != ignore_value)
    keep = keep.float()
    return (per_pixel * keep).sum() / keep.sum().clamp(min=1.0)


def sr_l_loss(
    student: torch.Tensor, teacher: torch.Tensor, mode: str = "image", tau: float = 1.0
) -> torch.Tensor:
    """
    Deep-to-shallow SR: the final output teaches a shallower exit.

    Args:
        student, teacher: mode "image" (the official code): (N, C) image-level logits, loss is
            BCE between sigmoid(student) and the soft target sigmoid(teacher), mean over N and C.
            mode "pixel": (N, C, h, w) segmentation logits, loss is the pixel KL divergence between
            the tau-softened distributions times tau^2, mean over pixels.
            The teacher is detached here.
    Returns:
        scalar.
    """
    _check_same_shape(student, teacher, "sr_l_loss")
    teacher = teacher.detach().float()
    if mode == "image":
        return F.binary_cross_entropy_with_logits(student.float(), torch.sigmoid(teacher))
    if mode == "pixel":
        return (_pixel_kl(student, teacher, tau) * tau**2).mean()
    raise ValueError(f"sr_l_loss: mode must be 'image' or 'pixel', not {mode!r}")
