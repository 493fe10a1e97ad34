"""
The losses of Self-Regulation, as plain functions on tensors, usable in any model.

Shapes: N images, C classes, (h, w) the loss resolution. Label maps enter the losses as class
*shares* ((N, C, h, w), see :func:`label_shares`), so that a loss computed below the input
resolution still sees every labelled pixel, thin structures included. Every SR loss detaches its
teacher itself, so a caller cannot let the teacher learn from the loss it teaches.
"""
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = [
    "SR_F_GATES",
    "class_argmax",
    "label_shares",
    "image_labels_from_mask",
    "local_affinity",
    "image_cls_loss",
    "sem_seg_ce_loss",
    "sr_f_affinity_loss",
    "sr_f_loss",
    "sr_l_loss",
    "void_to_teacher",
]

SR_F_GATES = ("none", "teacher_right", "teacher_right_or_void", "teacher_right_student_wrong")


def class_argmax(logits: torch.Tensor, dim: int) -> torch.Tensor:
    """
    ``logits.argmax(dim)`` (the first maximum), as ``torch.max``'s indices: on CPU several times
    faster over a dimension that is not the last one (measured in docs/studies.md, "Cost").
    """
    return logits.max(dim=dim).indices


def label_shares(
    targets: torch.Tensor, num_classes: int, ignore_value: int, stride: int = 1, sampling: str = "area"
) -> torch.Tensor:
    """
    Label maps at 1/``stride`` resolution, as class shares.

    Args:
        targets: (N, H, W) int64 label maps; ``ignore_value`` (or any id outside [0, C)) is void.
        sampling: "area": the share of each class among the stride x stride input pixels of each
            cell, so a 1-px pole keeps 1/stride of its cell; "nearest": the class of the cell's
            top-left pixel (``F.interpolate(mode="nearest")``), other pixels dropped.
    Returns:
        (N, C, H // stride, W // stride) float; a cell's shares sum to its labelled fraction
        (0 for an all-void cell). At stride 1 this is the one-hot label map.
    """
    if sampling not in ("area", "nearest"):
        raise ValueError(f"label_shares: sampling must be 'area' or 'nearest', not {sampling!r}")
    n, height, width = targets.shape
    h, w = height // stride, width // stride
    if sampling == "nearest":
        targets, stride = targets[:, : h * stride : stride, : w * stride : stride], 1
    targets = targets[:, : h * stride, : w * stride]
    valid = (targets >= 0) & (targets < num_classes) & (targets != ignore_value)
    label = torch.where(valid, targets, torch.full_like(targets, num_classes))  # void: class C
    # Histogram of each cell's labels: index (image, cell row, cell column, label), no one-hot map.
    rows = torch.arange(h * stride, device=targets.device) // stride
    cols = torch.arange(w * stride, device=targets.device) // stride
    images = torch.arange(n, device=targets.device)[:, None, None]
    cell = (images * h + rows[None, :, None]) * w + cols[None, None, :]
    counts = torch.bincount((cell * (num_classes + 1) + label).flatten(), minlength=n * h * w * (num_classes + 1))
    counts = counts.view(n, h, w, num_classes + 1)[..., :num_classes].permute(0, 3, 1, 2)
    return counts.float() / (stride * stride)


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


def sem_seg_ce_loss(
    logits: torch.Tensor,
    shares: torch.Tensor,
    class_balanced: bool = False,
    class_mass: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """
    Pixel cross-entropy against class shares, mean over the labelled pixels: with one-hot
    shares, detectron2's CE with void ignored; with "area" shares at stride s, the CE of the
    input-size label map against the logits repeated over each s x s cell.

    Args:
        logits: (N, C, h, w), or (S, N, C, h, w): S predictions of the same labels, the sum of
            their losses in one call; shares: (N, C, h, w) from :func:`label_shares`.
        class_balanced: every class in the labels weighs the same: the terms of class c are
            summed and divided by c's labelled mass, then averaged over the classes present (as
            :func:`sr_f_loss` balances its gated terms).
        class_mass: (C,) the mass ``class_balanced`` divides by; default ``shares.sum((0, 2, 3))``.
    Returns:
        scalar (0 if no pixel is labelled).
    """
    _check_same_shape(logits if logits.dim() == 4 else logits[0], shares, "sem_seg_ce_loss")
    logits = logits.float().flatten(0, -4)  # (S * N, C, h, w)
    targets = shares.float().repeat(logits.shape[0] // shares.shape[0], 1, 1, 1)
    if not class_balanced:
        return F.cross_entropy(logits, targets, reduction="sum") / shares.sum().clamp(min=1e-6)
    mass = shares.sum(dim=(0, 2, 3)) if class_mass is None else class_mass
    # class c's terms weighed by 1 / its mass, summed: the sum over classes of _class_mean
    total = F.cross_entropy(logits, targets, weight=1 / mass.float().clamp(min=1e-6), reduction="sum")
    return total / (mass > 0).sum().clamp(min=1)


def _class_mean(per_class: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
    """(C,) summed terms per class, (C,) labelled mass -> mean over the classes with mass of the ratio."""
    # a class absent from the labels has no term (its share is 0): no host sync to skip it
    return (per_class / mass.clamp(min=1e-6)).sum() / (mass > 0).sum().clamp(min=1)


def image_cls_loss(cls_logits: torch.Tensor, image_labels: torch.Tensor) -> torch.Tensor:
    """
    Image-level multi-label BCE, mean over images and classes.

    Args:
        cls_logits: (N, C) logits, or (S, N, C): S predictions of the same labels, the sum of
            their losses in one call; image_labels: (N, C) in [0, 1].
    """
    _check_same_shape(cls_logits if cls_logits.dim() == 2 else cls_logits[0], image_labels, "image_cls_loss")
    terms = F.binary_cross_entropy_with_logits(
        cls_logits.float(), image_labels.float().expand_as(cls_logits), reduction="none")
    return terms.sum() / image_labels.numel()


def _pixel_kl(student: torch.Tensor, teacher: torch.Tensor, tau: float) -> torch.Tensor:
    """(..., C, h, w) -> (..., h, w): KL(softmax(teacher / tau) || softmax(student / tau)) per
    pixel; the teacher broadcasts over the student's leading dimensions."""
    log_p_student = F.log_softmax(student.float() / tau, dim=-3)
    log_p_teacher = F.log_softmax(teacher.float() / tau, dim=-3).expand_as(log_p_student)
    return F.kl_div(log_p_student, log_p_teacher, reduction="none", log_target=True).sum(dim=-3)


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name}: {tuple(a.shape)} and {tuple(b.shape)} must have the same shape")


def void_to_teacher(shares: torch.Tensor, teacher_labels: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) label shares with each cell's void fraction given to the teacher's class:
    (N, h, w) ``teacher_labels``. Cells then sum to 1; already full cells are unchanged."""
    void = (1 - shares.sum(dim=1, keepdim=True)).clamp(min=0)
    return shares.scatter_add(1, teacher_labels[:, None], void)


def sr_f_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    mode: str = "hard",
    tau: float = 1.0,
    gate: str = "none",
    shares: Optional[torch.Tensor] = None,
    class_balanced: bool = False,
    class_mass: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """
    Shallow-to-deep SR: a shallow exit's segmentation logits teach a deeper student.

    Args:
        student, teacher: (N, C, h, w) segmentation logits; the teacher is detached here. The
            student may be (S, N, C, h, w), S students of the one teacher: the sum of their
            losses, with the teacher's argmax, gate and class mass computed once.
        mode: "hard": cross-entropy against the teacher's argmax t (the official code);
            "soft": KL divergence between the tau-softened distributions, times tau^2.
        gate: which pixels learn from the teacher, each weighted by
            "none": 1, every pixel (void included: SR needs no labels; the official code);
            "teacher_right": the share of the pixel's labels that are t (``shares[t]``): the
            teacher never contradicts the labels;
            "teacher_right_or_void": as "teacher_right", and the pixel's void share at weight 1
            (:func:`void_to_teacher`): SR on the unlabelled pixels too, as the official code;
            "teacher_right_student_wrong": ``shares[t]`` where the student's argmax is not t:
            only the detail the shallow teacher gets and the deeper student misses.
        shares: (N, C, h, w) class shares of the labels (:func:`label_shares`); gates other
            than "none" need them.
        class_balanced: with a gate, every class in the labels weighs the same: the gated terms
            of the pixels the teacher assigns to class c are summed and divided by c's labelled
            mass (``shares[:, c].sum()``), then averaged over the classes present. A rare (thin)
            class the teacher gets right is no longer outweighed by the large ones.
        class_mass: (C,) the labelled mass per class that ``class_balanced`` divides by; default
            ``shares.sum((0, 2, 3))``. Under DDP, pass the mean of it over the processes: the
            averaged gradients are then those of the whole batch.
    Returns:
        scalar: the weighted sum over pixels divided by the number of pixels (gate "none") or
        by the labelled pixels (``shares.sum()``), so a gate removes terms, never rescales them;
        with ``class_balanced``, the mean over classes described there.
    """
    _check_same_shape(student if student.dim() == 4 else student[0], teacher, "sr_f_loss")
    if gate not in SR_F_GATES:
        raise ValueError(f"sr_f_loss: gate must be one of {SR_F_GATES}, not {gate!r}")
    if gate != "none" and shares is None:
        raise ValueError(f"sr_f_loss: gate {gate!r} needs the label shares")
    if class_balanced and gate == "none":
        raise ValueError("sr_f_loss: class_balanced needs a gate (the classes come from the labels)")
    students = student if student.dim() == 5 else student[None]  # (S, N, C, h, w)
    teacher = teacher.detach().float()
    teacher_labels = class_argmax(teacher, dim=1)  # (N, h, w), for every student
    labels = teacher_labels.expand(students.shape[0], *teacher_labels.shape)  # (S, N, h, w)
    if mode == "hard":
        per_pixel = F.cross_entropy(students.flatten(0, 1).float(), labels.flatten(0, 1), reduction="none")
        per_pixel = per_pixel.view(labels.shape)
    elif mode == "soft":
        per_pixel = _pixel_kl(students, teacher, tau) * tau**2
    else:
        raise ValueError(f"sr_f_loss: mode must be 'hard' or 'soft', not {mode!r}")
    if gate == "none":  # every pixel at weight 1 (class_balanced needs a gate: refused above)
        return per_pixel.sum() / teacher_labels.numel()
    _check_same_shape(teacher, shares, "sr_f_loss shares")
    if gate == "teacher_right_or_void":
        shares = void_to_teacher(shares, teacher_labels)
    weight = shares.gather(1, teacher_labels[:, None])[:, 0]
    if gate == "teacher_right_student_wrong":
        weight = weight * (class_argmax(students.detach(), dim=2) != labels)
    weighted = per_pixel * weight  # (S, N, h, w)
    if not class_balanced:
        return weighted.sum() / shares.sum().clamp(min=1e-6)
    mass = shares.sum(dim=(0, 2, 3)) if class_mass is None else class_mass
    per_class = weighted.new_zeros(mass.shape).index_add_(0, labels.flatten(), weighted.flatten())
    return _class_mean(per_class, mass)


def local_affinity(features: torch.Tensor) -> torch.Tensor:
    """(N, D, h, w) -> (N, 8, h, w): the cosine similarity of each pixel's feature vector to each of
    its 8 neighbours' (0 for a neighbour outside the map, or a zero vector)."""
    x = F.normalize(features.float(), dim=1)
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1))
    return torch.stack([(x * padded[:, :, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]).sum(dim=1)
                        for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx], dim=1)


def sr_f_affinity_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """
    Shallow-to-deep SR on features: a deeper student's features keep the local structure of a
    shallow teacher's, which pixels are alike and which differ, without copying its values.

    Args:
        student: (N, D_s, h, w) features (any width); teacher: (N, D_t, H, W) features of the
            same images at a finer or equal stride, detached here and average-pooled to (h, w).
    Returns:
        scalar: the squared difference of their :func:`local_affinity`, summed over the 8
        neighbours, mean over the student's pixels.
    """
    if student.shape[0] != teacher.shape[0]:
        raise ValueError(f"sr_f_affinity_loss: {student.shape[0]} student and {teacher.shape[0]} teacher images")
    target = local_affinity(F.adaptive_avg_pool2d(teacher.detach().float(), student.shape[-2:]))
    return (local_affinity(student) - target).pow(2).sum(dim=1).mean()


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
            The student may be stacked, (S, N, C) or (S, N, C, h, w): S students of the one
            teacher, the sum of their losses. The teacher is detached here.
    Returns:
        scalar.
    """
    if mode not in ("image", "pixel"):
        raise ValueError(f"sr_l_loss: mode must be 'image' or 'pixel', not {mode!r}")
    unstacked = 2 if mode == "image" else 4
    _check_same_shape(student if student.dim() == unstacked else student[0], teacher, "sr_l_loss")
    teacher = teacher.detach().float()
    if mode == "image":
        terms = F.binary_cross_entropy_with_logits(
            student.float(), torch.sigmoid(teacher).expand_as(student), reduction="none")
        return terms.sum() / teacher.numel()
    return (_pixel_kl(student, teacher, tau) * tau**2).sum() / teacher[:, 0].numel()
