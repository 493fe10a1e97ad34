"""
Self-Regulation: exits on backbone features (MEA), shallow-to-deep SR-F and deep-to-shallow SR-L,
composed in one module that any segmentation meta-architecture calls in training.

        backbone stages (shallow -> deep)          model's own head
        res2 ----- res3 ----- res4 ----- res5  ->  ... -> S_0 (final logits)
         |          |          |          |
        S_1        S_2        S_3        S_4       exits (training only)

  MEA : every exit learns the labels: CE(S_i, y), BCE(image logits g_i, image labels q)
  SR-F: S_1 (shallowest) teaches S_2..S_K and S_0   (detail kept in the deep layers)
  SR-L: S_0 (final) teaches S_1..S_K                 (context given to the shallow layers)
"""
from dataclasses import fields
from typing import Any, Dict, Mapping, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone

from ..utils import is_setting
from .criterion import SR_F_FORMS, SRLLoss
from .exit_head import ExitHead, ImageClassifier
from .losses import class_argmax, image_cls_loss, image_labels_from_mask, label_shares, sem_seg_ce_loss

__all__ = ["LOSSES", "SR_PRESETS", "SelfRegulation", "exit_feature_shapes", "yacs_settings"]

# The losses SelfRegulation returns, each with its weight in ``weight_dict``.
LOSSES = ("loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l")

# Settings of SelfRegulation besides the feature shapes and label ids.
# Weights are relative to the model's own head loss (SRHeadWrapper multiplies them by the head's
# loss_weight, 1.0 in detectron2's SemanticSegmentor, 0.5 in its Panoptic-FPN); the official code
# weighs its final CE 0.8, so its weights (0.8 seg, 0.2 cls, 1.0 SR-L, 1.0 SR-F) appear here
# divided by 0.8: the same ratios.
_OFFICIAL_LOSSES = dict(
    weight_dict={"loss_exit_seg": 1.0, "loss_exit_cls": 0.25, "loss_sr_f": 1.25, "loss_sr_l": 1.25},
    sr_f=dict(teacher=None, mode="hard", tau=1.0, gate="none", class_balanced=False, form="teacher"),
    sr_l=dict(mode="image", tau=1.0),
)
SR_PRESETS = {
    # sr-d2's defaults: the official losses on cheaper exits, losses at stride 4 over the labels'
    # class shares, SR-F only where its teacher is right, each class weighing the same in it
    # (docs/studies.md, "CamVid seed study" and "Choosing the defaults").
    "sr-d2": dict(
        exit_head=dict(conv_dims=64, conv_kernels=(1, 3), norm="BN", backbone_grad_scale=1.0),
        loss_stride=4, label_sampling="area",
        **{**_OFFICIAL_LOSSES,
           "sr_f": {**_OFFICIAL_LOSSES["sr_f"], "gate": "teacher_right", "class_balanced": True}},
    ),
    # The official code (DeepLab-v2 demo): its exits, full-resolution losses.
    "official": dict(
        exit_head=dict(conv_dims=256, conv_kernels=(3, 3), norm="BN", backbone_grad_scale=1.0),
        loss_stride=1, label_sampling="area", **_OFFICIAL_LOSSES,
    ),
}

# The yacs keys (MODEL.SR) of the grouped settings: each key of a group in upper case, prefixed.
_YACS_PREFIXES = {"exit_head": "", "sr_f": "SR_F_", "sr_l": "SR_L_"}


def yacs_settings(settings: Mapping[str, Any]) -> Dict[str, Any]:
    """SelfRegulation's ``settings`` (e.g. a preset) as MODEL.SR's flat keys (``sr_f.mode`` is
    ``SR_F_MODE``, ``exit_head.norm`` is ``NORM``)."""
    flat = {}
    for key, value in settings.items():
        if key in _YACS_PREFIXES:
            flat.update({(_YACS_PREFIXES[key] + k).upper(): v for k, v in value.items()})
        else:
            flat[key.upper()] = value
    return flat


def exit_feature_shapes(backbone: Backbone, names: Sequence[str]) -> Dict[str, ShapeSpec]:
    """Shapes of the backbone's outputs ``names``; KeyError naming any it does not return."""
    shapes = backbone.output_shape()
    missing = [n for n in names if n not in shapes]
    if missing:
        raise KeyError(f"exit features {missing} are not among the backbone's features {sorted(shapes)}"
                       " (for the stages under an FPN, build it as sr_d2.modeling.StagesFPN)")
    return {n: shapes[n] for n in names}


class SelfRegulation(nn.Module):
    """
    The method's module: the exits and their MEA, SR-F and SR-L losses, for any meta-architecture.

    Owns the exits and computes the MEA, SR-F and SR-L losses from backbone features, the model's
    final segmentation logits and the label maps. Training only: a model in eval mode never calls it.

    SR-F and SR-L are multiplied by ``scale`` (1 unless set): :class:`sr_d2.engine.SRSchedule`
    sets it each step (0 during the warm-up). The module keeps the teacher's running pixel
    accuracy on the training batches (``teacher_accuracy``), which the schedule may wait for.
    """

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        num_classes: int,
        ignore_value: int,
        exit_head: Dict[str, Any],
        loss_stride: int,
        label_sampling: str,
        weight_dict: Dict[str, float],
        sr_f: Dict[str, Any],
        sr_l: Dict[str, Any],
        final_classes: Optional[Sequence[int]] = None,
    ):
        """
        Args:
            input_shape: the features that get an exit; ordered by stride (at equal stride, SR-F's
                teachers first), the first (shallowest) exit is SR-F's teacher by default.
            num_classes, ignore_value: as the model's head (num_classes: the exits', see final_classes).
            exit_head: each exit's ``conv_dims``, ``conv_kernels``, ``norm`` and
                ``backbone_grad_scale``, see :class:`ExitHead`.
            loss_stride, label_sampling: all losses are computed at 1/loss_stride of the input
                size: logits are resized to it (bilinear), label maps become class shares
                (:func:`label_shares`, "area" or "nearest"). Stride 1 is the official code.
            weight_dict: the weight of each loss this module returns: "loss_exit_seg" (the exits'
                CE), "loss_exit_cls" (image-level BCE of the exits and of the final output),
                "loss_sr_f" and "loss_sr_l"; each summed over its terms first.
            sr_f: SR-F's ``teacher``, ``mode``, ``tau``, ``gate`` and ``class_balanced``, see
                :class:`SRFLoss`, and its ``form``: "teacher" (the method) or a form the
                studies train, by its name in ``SR_F_FORMS``. Its students are the exits after the
                teacher exit and the final output.
            sr_l: SR-L's ``mode`` and ``tau``, see :class:`SRLLoss`.
            final_classes: when the final output's classes group the exits' (Panoptic-FPN: its
                head has one "things" class, the exits each thing class), the final class of each
                of the exits' ``num_classes`` classes; None: the same classes. The exits learn
                their classes; where the final output takes part, the labels, and SR-F's teacher
                (its probabilities summed), are grouped into its classes, and SR-L teaches only the
                exit classes that are a final class by themselves (sr_l mode "image").
        """
        super().__init__()
        _check_settings(input_shape, num_classes=num_classes, exit_head=exit_head, loss_stride=loss_stride,
                        label_sampling=label_sampling, weight_dict=weight_dict, final_classes=final_classes)
        form = _sr_f_form(sr_f)
        self.sr_l = _settings_of(SRLLoss, "sr_l", sr_l)
        if final_classes is not None and self.sr_l.mode != "image":
            raise ValueError("SelfRegulation: final_classes needs sr_l.mode='image' (pixel SR-L compares "
                             "the final output's and the exits' distributions over the same classes)")
        teachers = form.teacher_names(sr_f["teacher"]) or set()
        # at equal stride (detectron2's stem and res2) the named teachers are the shallower
        ordered = sorted(input_shape.items(), key=lambda kv: (kv[1].stride, kv[0] not in teachers))
        self.in_features = [name for name, _ in ordered]
        self.input_shape = dict(ordered)
        self.exits = nn.ModuleDict(
            {name: ExitHead(shape.channels, num_classes, **exit_head) for name, shape in ordered})
        self.regroups_classes = final_classes is not None
        groups = torch.arange(num_classes) if final_classes is None else torch.as_tensor(final_classes)
        self.num_final_classes = int(groups.max()) + 1
        # (C,) each exit class's final class; the exit classes alone in theirs (SR-L's students)
        self.register_buffer("final_classes", groups, persistent=False)
        self.register_buffer("classes_kept_in_final",
                             torch.nonzero(torch.bincount(groups)[groups] == 1)[:, 0], persistent=False)
        # Image-level classifier of the final output S_0, as each exit has one.
        self.final_image_classifier = ImageClassifier(self.num_final_classes)
        self.sr_f = form(exits=self.input_shape, num_final_classes=self.num_final_classes,
                         conv_dims=exit_head["conv_dims"],
                         backbone_grad_scale=float(exit_head["backbone_grad_scale"]),
                         **{k: v for k, v in sr_f.items() if k != "form"})
        self.num_classes = num_classes
        self.ignore_value = ignore_value
        self.loss_stride, self.label_sampling = loss_stride, label_sampling
        self.weight_dict = {key: float(weight_dict[key]) for key in LOSSES}
        self.scale = 1.0  # on SR-F and SR-L; set by SRSchedule
        # the teacher's running pixel accuracy (labelled pixels, exponential average)
        self.register_buffer("teacher_accuracy", torch.tensor(0.0))

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        sr = cfg.MODEL.SR
        settings = {}
        for key, default in SR_PRESETS["sr-d2"].items():
            if key in _YACS_PREFIXES:
                settings[key] = {k: sr[(_YACS_PREFIXES[key] + k).upper()] for k in default}
            else:
                settings[key] = dict(sr[key.upper()]) if key == "weight_dict" else sr[key.upper()]
        return {
            "input_shape": input_shape,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "ignore_value": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
            **settings,
        }

    @torch.no_grad()
    def _track_teacher(self, teacher: torch.Tensor, shares: torch.Tensor) -> None:
        """Update the teacher's running accuracy with (N, C, h, w) logits and label shares."""
        hits = shares.gather(1, class_argmax(teacher, dim=1)[:, None]).sum()
        self.teacher_accuracy.mul_(0.9).add_(0.1 * hits / shares.sum().clamp(min=1e-6))

    def forward(
        self,
        features: Dict[str, torch.Tensor],
        final_logits: torch.Tensor,
        targets: torch.Tensor,
        image_labels: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            features: backbone features by name, including ``self.in_features``.
            final_logits: (N, C_final, h0, w0) the model's own segmentation logits S_0 (any
                stride); C_final is C unless ``final_classes`` groups the exits' classes.
            targets: (N, H, W) int64 label maps of the exits' C classes at input size,
                ``ignore_value`` for void.
            image_labels: (N, C) multi-hot image-level labels; from ``targets`` when None.
        Returns:
            dict of scalar losses: "loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l".
        """
        if final_logits.shape[1] != self.num_final_classes:
            raise ValueError(f"SelfRegulation: the final logits have {final_logits.shape[1]} classes, "
                             f"its final output's are {self.num_final_classes}")
        if image_labels is None:
            image_labels = image_labels_from_mask(targets, self.num_classes, self.ignore_value)
        shares = label_shares(targets, self.num_classes, self.ignore_value, self.loss_stride,
                              self.label_sampling)
        size = tuple(shares.shape[-2:])
        exits = [self.exits[name](features[name]) for name in self.in_features]
        # the exits' logits, shallowest first, in one tensor each so that every loss runs once over
        # all of them: (K, N, C, h, w) and (K, N, C); the final output's apart: its classes may differ
        seg = torch.stack([_resized(s, size) for s, _ in exits]).float()
        cls = torch.stack([c for _, c in exits]).float()
        final_seg = _resized(final_logits, size).float()
        final_cls = self.final_image_classifier(final_logits).float()

        exit_cls = image_cls_loss(cls, image_labels)
        exit_cls = exit_cls + image_cls_loss(final_cls, self._image_labels_in_final(image_labels))
        losses = {
            "loss_exit_seg": self.weight_dict["loss_exit_seg"] * sem_seg_ce_loss(seg, shares),
            "loss_exit_cls": self.weight_dict["loss_exit_cls"] * exit_cls,
        }
        teacher = self.sr_f.teacher_logits(seg)  # formed once: tracked, and SR-F's teacher
        if self.training:
            self._track_teacher(teacher, shares)
        zero = final_seg.new_zeros(())
        losses.update(loss_sr_f=zero, loss_sr_l=zero)
        if self.scale > 0 and self.weight_dict["loss_sr_f"] > 0:
            loss = self.sr_f(self, seg, teacher, final_seg, shares, features, final_logits)
            losses["loss_sr_f"] = (self.scale * self.weight_dict["loss_sr_f"]) * loss
        if self.scale > 0 and self.weight_dict["loss_sr_l"] > 0:
            if self.regroups_classes:
                # the final output teaches each exit class that is a final class by itself (image)
                taught = self.classes_kept_in_final
                loss = self.sr_l(seg, cls[:, :, taught], final_seg, final_cls[:, self.final_classes[taught]])
            else:
                loss = self.sr_l(seg, cls, final_seg, final_cls)
            losses["loss_sr_l"] = (self.scale * self.weight_dict["loss_sr_l"]) * loss
        return losses

    def summed_into_final(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """``x`` with its dimension ``dim`` over the exits' classes summed into the final output's
        (``x`` itself without final_classes)."""
        if not self.regroups_classes:
            return x
        shape = list(x.shape)
        shape[dim] = self.num_final_classes
        return x.new_zeros(shape).index_add_(dim, self.final_classes, x)

    def _image_labels_in_final(self, image_labels: torch.Tensor) -> torch.Tensor:
        """(N, C) image labels -> (N, C_final): a final class is present if one of its classes is."""
        if not self.regroups_classes:
            return image_labels
        groups = self.final_classes.expand_as(image_labels)
        return image_labels.new_zeros(len(image_labels), self.num_final_classes).scatter_reduce_(
            1, groups, image_labels, "amax")

    @torch.no_grad()
    def teacher_in_final_classes(self, teacher: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) teacher logits -> (N, C_final, h, w): the log of its probabilities summed
        into the final classes (the logits themselves without final_classes)."""
        if not self.regroups_classes:
            return teacher
        grouped = self.summed_into_final(F.softmax(teacher, dim=1), dim=1)
        return grouped.clamp(min=torch.finfo(grouped.dtype).tiny).log()


def _resized(logits: torch.Tensor, size) -> torch.Tensor:
    """(N, C, h, w) logits resized (bilinear) to ``size``."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def _settings_of(cls, name: str, settings):
    """``cls`` of the ``settings`` mapping; ValueError naming the keys it needs unless it gives exactly those."""
    keys = [f.name for f in fields(cls)]
    if not isinstance(settings, Mapping) or sorted(settings) != sorted(keys):
        raise ValueError(f"SelfRegulation: {name} must give each of {keys} and nothing else, got {settings!r}")
    return cls(**settings)


_SR_F_KEYS = ("teacher", "mode", "tau", "gate", "class_balanced", "form")


def _sr_f_form(settings):
    """The class in ``SR_F_FORMS`` of SR-F's ``settings`` mapping; ValueError naming the keys it
    needs unless it gives exactly those, or the registered forms."""
    if not isinstance(settings, Mapping) or sorted(settings) != sorted(_SR_F_KEYS):
        raise ValueError(f"SelfRegulation: sr_f must give each of {list(_SR_F_KEYS)} and nothing else, got "
                         f"{settings!r}")
    if settings["form"] not in SR_F_FORMS:
        raise ValueError(f"SelfRegulation: sr_f.form must be one of {tuple(SR_F_FORMS)}, got {settings['form']!r}")
    return SR_F_FORMS[settings["form"]]


def _check_settings(input_shape, *, num_classes, exit_head, loss_stride, label_sampling, weight_dict,
                    final_classes) -> None:
    """Raise ValueError naming the first SelfRegulation setting that cannot work (SR-F's and SR-L's
    are checked by their criteria)."""
    problems = []
    if len(input_shape) < 2:
        problems.append(f"needs at least two exit features, got {list(input_shape)}")
    head_keys = ["conv_dims", "conv_kernels", "norm", "backbone_grad_scale"]
    if not isinstance(exit_head, Mapping) or sorted(exit_head) != sorted(head_keys):
        problems.append(f"exit_head must give each of {head_keys} and nothing else, got {exit_head!r}")
    if not isinstance(weight_dict, Mapping) or sorted(weight_dict) != sorted(LOSSES):
        problems.append(f"weight_dict must give a weight to each of {list(LOSSES)} and to nothing else, "
                        f"got {dict(weight_dict) if isinstance(weight_dict, Mapping) else weight_dict!r}")
        weight_dict = {}
    for name, value in {f"weight_dict[{k!r}]": v for k, v in weight_dict.items()}.items():
        if not is_setting(value):
            problems.append(f"{name} must be a finite number >= 0, got {value!r}")
    for name, value in {"num_classes": num_classes, "loss_stride": loss_stride}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{name} must be an integer >= 1, got {value!r}")
    if label_sampling not in ("area", "nearest"):
        problems.append(f"label_sampling must be one of ('area', 'nearest'), got {label_sampling!r}")
    if final_classes is not None:
        groups = list(final_classes)
        if (len(groups) != num_classes or any(isinstance(g, bool) or not isinstance(g, int) for g in groups)
                or sorted(set(groups)) != list(range(max(groups, default=-1) + 1))):
            problems.append(f"final_classes must give each of the {num_classes} classes its final class, "
                            f"the final classes numbered 0.. without a gap, got {groups!r}")
    if problems:
        raise ValueError("SelfRegulation: " + "; ".join(problems))
