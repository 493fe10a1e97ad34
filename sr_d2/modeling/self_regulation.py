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
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone
from detectron2.utils.events import get_event_storage

from .exit_head import ExitHead
from .losses import image_cls_loss, image_labels_from_mask, sem_seg_ce_loss, sr_f_loss, sr_l_loss

__all__ = ["SR_PRESETS", "SelfRegulation", "exit_feature_shapes", "run_backbone"]

# Settings of SelfRegulation besides the feature shapes, label ids and the warm-up (which depends
# on the schedule: see ``warmup_iters``). Weights are relative to the model's own head loss (weight
# 1.0 in detectron2); the official code weighs its final CE 0.8, so its weights (0.8 seg, 0.2 cls,
# 1.0 SR-L, 1.0 SR-F) appear here divided by 0.8: the same ratios.
_OFFICIAL_LOSSES = dict(
    exit_seg_weight=1.0,
    exit_cls_weight=0.25,
    sr_f_weight=1.25,
    sr_f_mode="hard",
    sr_f_tau=1.0,
    sr_f_min_confidence=0.0,
    sr_f_correct_only=False,
    sr_l_weight=1.25,
    sr_l_mode="image",
    sr_l_tau=1.0,
)
SR_PRESETS = {
    # sr-d2's defaults: the official losses on cheaper exits, losses at stride 4, SR-F only where
    # its teacher is right (README, "Choosing the defaults").
    "sr-d2": dict(
        conv_dims=64, conv_kernels=(1, 3), norm="BN", loss_stride=4,
        **{**_OFFICIAL_LOSSES, "sr_f_correct_only": True},
    ),
    # The official code (DeepLab-v2 demo): its exits, full-resolution losses.
    "official": dict(conv_dims=256, conv_kernels=(3, 3), norm="BN", loss_stride=1, **_OFFICIAL_LOSSES),
}


def run_backbone(backbone: Backbone, x: torch.Tensor):
    """
    Run ``backbone`` on (N, 3, H, W) images once; returns (its outputs, its outputs together with
    those of its ``bottom_up`` network, e.g. the ResNet stages "res2".."res5" under an FPN).
    """
    bottom_up = getattr(backbone, "bottom_up", None)
    if bottom_up is None:
        features = backbone(x)
        return features, features
    tapped = {}
    handle = bottom_up.register_forward_hook(lambda module, inputs, outputs: tapped.update(outputs))
    try:
        features = backbone(x)
    finally:
        handle.remove()
    return features, {**tapped, **features}


def exit_feature_shapes(backbone: Backbone, names: Sequence[str]) -> Dict[str, ShapeSpec]:
    """Shapes of the named features among ``backbone``'s outputs and its ``bottom_up``'s."""
    shapes = dict(backbone.output_shape())
    if hasattr(backbone, "bottom_up"):
        shapes = {**backbone.bottom_up.output_shape(), **shapes}
    missing = [n for n in names if n not in shapes]
    if missing:
        raise KeyError(f"exit features {missing} are not among the backbone's features {sorted(shapes)}")
    return {n: shapes[n] for n in names}


class SelfRegulation(nn.Module):
    """
    Owns the exits and computes the MEA, SR-F and SR-L losses from backbone features, the model's
    final segmentation logits and the label maps. Training only: a model in eval mode never calls it.
    """

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        num_classes: int,
        ignore_value: int,
        conv_dims: int,
        conv_kernels: Sequence[int],
        norm: str,
        loss_stride: int,
        exit_seg_weight: float,
        exit_cls_weight: float,
        sr_f_weight: float,
        sr_f_mode: str,
        sr_f_tau: float,
        sr_f_min_confidence: float,
        sr_f_correct_only: bool,
        sr_l_weight: float,
        sr_l_mode: str,
        sr_l_tau: float,
        warmup_iters: int,
        ramp_iters: int,
    ):
        """
        Args:
            input_shape: the features that get an exit; ordered by stride, the first (shallowest)
                exit is SR-F's teacher.
            num_classes, ignore_value: as the model's head.
            conv_dims, conv_kernels, norm: shape of each exit, see :class:`ExitHead`.
            loss_stride: all losses are computed at 1/loss_stride of the input size: logits are
                resized to it (bilinear), label maps sampled (nearest). 1 is the official code.
            exit_seg_weight, exit_cls_weight: MEA weights (segmentation CE of the exits; image-level
                BCE of the exits and of the final output).
            sr_f_weight, sr_f_mode, sr_f_tau, sr_f_min_confidence: SR-F, see :func:`sr_f_loss`.
            sr_f_correct_only: SR-F only where the teacher's argmax equals the label.
            sr_l_weight, sr_l_mode, sr_l_tau: SR-L, see :func:`sr_l_loss`.
            warmup_iters, ramp_iters: SR-F and SR-L weigh 0 before iteration ``warmup_iters``,
                then rise linearly to full weight over ``ramp_iters`` iterations. Teachers must
                have learned first: switched on at iteration 0, SR suppresses the rare classes
                (README); sr-d2's configs use a quarter of the schedule.
        """
        super().__init__()
        if sr_f_mode not in ("hard", "soft") or sr_l_mode not in ("image", "pixel"):
            raise ValueError(f"sr_f_mode must be hard|soft and sr_l_mode image|pixel, got "
                             f"{sr_f_mode!r}, {sr_l_mode!r}")
        if len(input_shape) < 2:
            raise ValueError(f"SelfRegulation needs at least two exit features, got {list(input_shape)}")
        ordered = sorted(input_shape.items(), key=lambda kv: kv[1].stride)
        self.in_features = [name for name, _ in ordered]
        self.exits = nn.ModuleDict(
            {
                name: ExitHead(shape.channels, num_classes, conv_dims=conv_dims,
                               conv_kernels=conv_kernels, norm=norm)
                for name, shape in ordered
            }
        )
        # Image-level classifier of the final output S_0 (as the exits', on its pooled logits).
        self.final_image_classifier = nn.Linear(num_classes, num_classes)
        self.num_classes = num_classes
        self.ignore_value = ignore_value
        self.loss_stride = loss_stride
        self.exit_seg_weight = exit_seg_weight
        self.exit_cls_weight = exit_cls_weight
        self.sr_f_weight, self.sr_f_mode = sr_f_weight, sr_f_mode
        self.sr_f_tau, self.sr_f_min_confidence = sr_f_tau, sr_f_min_confidence
        self.sr_f_correct_only = sr_f_correct_only
        self.sr_l_weight, self.sr_l_mode, self.sr_l_tau = sr_l_weight, sr_l_mode, sr_l_tau
        self.warmup_iters, self.ramp_iters = warmup_iters, ramp_iters

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        sr = cfg.MODEL.SR
        return {
            "input_shape": input_shape,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "ignore_value": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
            "warmup_iters": sr.WARMUP_ITERS if sr.WARMUP_ITERS >= 0 else cfg.SOLVER.MAX_ITER // 4,
            "ramp_iters": sr.RAMP_ITERS,
            **{key: sr[key.upper()] for key in SR_PRESETS["sr-d2"]},
        }

    def sr_scale(self, iteration: Optional[int]) -> float:
        """Factor in [0, 1] on SR-F and SR-L at ``iteration`` (warm-up, then linear ramp)."""
        if self.warmup_iters == 0 and self.ramp_iters == 0:
            return 1.0
        if iteration is None:
            raise ValueError("SelfRegulation with a warm-up needs the iteration: pass iteration= or "
                             "call it inside detectron2's EventStorage (its trainers do)")
        if iteration < self.warmup_iters:
            return 0.0
        if self.ramp_iters == 0:
            return 1.0
        return min(1.0, (iteration - self.warmup_iters + 1) / self.ramp_iters)

    def _at_loss_size(self, logits: torch.Tensor, size) -> torch.Tensor:
        if tuple(logits.shape[-2:]) == size:
            return logits
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)

    def forward(
        self,
        features: Dict[str, torch.Tensor],
        final_logits: torch.Tensor,
        targets: torch.Tensor,
        image_labels: Optional[torch.Tensor] = None,
        iteration: Optional[int] = None,
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            features: backbone features by name, including ``self.in_features``.
            final_logits: (N, C, h0, w0) the model's own segmentation logits S_0 (any stride).
            targets: (N, H, W) int64 label maps at input size, ``ignore_value`` for void.
            image_labels: (N, C) multi-hot image-level labels; from ``targets`` when None.
            iteration: training iteration for the warm-up; from detectron2's EventStorage when None.
        Returns:
            dict of scalar losses: "loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l".
        """
        if iteration is None:
            try:
                iteration = get_event_storage().iter
            except AssertionError:  # no EventStorage: not in a detectron2 trainer
                pass
        if image_labels is None:
            image_labels = image_labels_from_mask(targets, self.num_classes, self.ignore_value)
        size = (targets.shape[-2] // self.loss_stride, targets.shape[-1] // self.loss_stride)
        labels = targets
        if self.loss_stride > 1:
            labels = F.interpolate(targets[:, None].float(), size=size, mode="nearest")[:, 0].long()

        exit_seg: List[torch.Tensor] = []
        exit_cls: List[torch.Tensor] = []
        for name in self.in_features:
            seg, cls = self.exits[name](features[name])
            exit_seg.append(self._at_loss_size(seg, size))
            exit_cls.append(cls)
        final_cls = self.final_image_classifier(final_logits.mean(dim=(2, 3)))
        final_seg = self._at_loss_size(final_logits, size)

        losses = {
            "loss_exit_seg": self.exit_seg_weight
            * sum(sem_seg_ce_loss(s, labels, self.ignore_value) for s in exit_seg),
            "loss_exit_cls": self.exit_cls_weight
            * sum(image_cls_loss(c, image_labels) for c in exit_cls + [final_cls]),
        }
        scale = self.sr_scale(iteration)
        zero = final_logits.new_zeros(())
        losses["loss_sr_f"] = losses["loss_sr_l"] = zero
        if scale > 0 and self.sr_f_weight > 0:
            teacher = exit_seg[0]
            students = exit_seg[1:] + [final_seg]
            gate = labels if self.sr_f_correct_only else None
            losses["loss_sr_f"] = (scale * self.sr_f_weight) * sum(
                sr_f_loss(s, teacher, self.sr_f_mode, self.sr_f_tau, self.sr_f_min_confidence,
                          gate, self.ignore_value)
                for s in students
            )
        if scale > 0 and self.sr_l_weight > 0:
            if self.sr_l_mode == "image":
                pairs = [(c, final_cls) for c in exit_cls]
            else:
                pairs = [(s, final_seg) for s in exit_seg]
            losses["loss_sr_l"] = (scale * self.sr_l_weight) * sum(
                sr_l_loss(s, t, self.sr_l_mode, self.sr_l_tau) for s, t in pairs
            )
        return losses
