"""What every SR meta-architecture shares: the SelfRegulation module wired into the parent's forward."""
from typing import Dict, List, Optional

import torch
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.postprocessing import sem_seg_postprocess

from ..losses import image_labels_from_mask
from ..self_regulation import SelfRegulation, exit_feature_shapes, feature_shapes, tapped_features

__all__ = ["SelfRegulated", "exit_inference", "image_labels_of"]


def image_labels_of(batched_inputs: List[dict], targets: torch.Tensor, num_classes: int,
                    ignore_value: int) -> torch.Tensor:
    """
    (N, C) multi-hot image-level labels: an image's "image_labels" field (list of class ids) when
    its dataset provides one (e.g. weak supervision with pseudo-label masks), else the classes in
    its label map ``targets[n]`` ((N, H, W)).
    """
    labels = image_labels_from_mask(targets, num_classes, ignore_value)
    for n, x in enumerate(batched_inputs):
        if "image_labels" in x:
            ids = torch.as_tensor(x["image_labels"], dtype=torch.long, device=targets.device)
            if ids.numel() and (ids.min() < 0 or ids.max() >= num_classes):
                raise ValueError(f"image_labels {ids.tolist()} of {x.get('file_name', n)!r} are "
                                 f"outside the {num_classes} class ids")
            labels[n] = 0
            labels[n, ids] = 1
    return labels


class SelfRegulated:
    """
    Mixin for a detectron2 meta-architecture with a semantic head (``sem_seg_head`` with
    ``layers`` and ``losses``, as ``SemSegFPNHead`` and ``DeepLabV3PlusHead``; ``layers`` returns
    the logits, or a tuple of the final logits and auxiliary outputs that ``losses`` takes whole):
    listed before the meta-architecture, it adds the ``self_regulation`` argument and the SR losses.

    Training runs the parent's own ``forward`` (its preprocessing, padding and other losses)
    while SR records the backbone's features and takes over the semantic head's call: there it
    has the head's input features and the label maps as the parent padded them, and returns the
    head's loss together with SR's. Inference is the parent's, untouched: no exit runs.
    A parent built from a yacs config alone (Panoptic-DeepLab) is subclassed with an
    ``__init__`` that builds it and then calls ``_attach``.
    """

    @configurable
    def __init__(self, *, self_regulation: SelfRegulation, **kwargs):
        """
        Args:
            self_regulation: exits and SR losses; its features are looked up among the backbone's
                outputs and those of its ``bottom_up`` (see ``feature_shapes``), and its classes
                and ignore value must be the semantic head's.
            kwargs: arguments of the meta-architecture.
        """
        super().__init__(**kwargs)
        self._attach(self_regulation)

    def _attach(self, self_regulation: SelfRegulation) -> None:
        """Check ``self_regulation`` against the built model's head and backbone, and keep it."""
        head = self.sem_seg_head
        missing = [m for m in ("layers", "losses", "ignore_value") if not hasattr(head, m)]
        if missing:
            raise TypeError(f"{type(self).__name__}: its sem_seg_head {type(head).__name__} lacks "
                            f"{missing} (detectron2's semantic-head interface)")
        if self_regulation.ignore_value != head.ignore_value:
            raise ValueError(f"self_regulation.ignore_value={self_regulation.ignore_value} differs from "
                             f"sem_seg_head.ignore_value={head.ignore_value}")
        _check_exit_features(self_regulation.input_shape, feature_shapes(self.backbone))
        self.self_regulation = self_regulation

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        shapes = exit_feature_shapes(ret["backbone"], cfg.MODEL.SR.IN_FEATURES)
        ret["self_regulation"] = SelfRegulation(cfg, shapes)
        return ret

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            return super().forward(batched_inputs)
        head = self.sem_seg_head
        with tapped_features(self.backbone) as features:
            head.forward = lambda head_features, targets=None, *extra: self._semantic_losses(
                batched_inputs, features, head_features, targets, *extra)
            try:
                return super().forward(batched_inputs)
            finally:
                del head.forward

    def _semantic_losses(self, batched_inputs: List[dict], features: Dict[str, torch.Tensor],
                         head_features: Dict[str, torch.Tensor], targets: Optional[torch.Tensor], *extra):
        """
        The semantic head's call in training: (None, the head's loss and SR's), from the head's
        input features, all tapped ``features``, the (N, H, W) padded label maps and the call's
        other arguments, passed on to the head's ``losses`` (Panoptic-DeepLab's pixel weights).
        """
        if targets is None:
            raise ValueError("SR training needs label maps: the inputs have no 'sem_seg'")
        head = self.sem_seg_head
        outputs = head.layers(head_features)
        losses = head.losses(outputs, targets, *extra)
        logits = outputs[0] if isinstance(outputs, tuple) else outputs  # heads with auxiliary outputs
        sr = self.self_regulation
        image_labels = image_labels_of(batched_inputs, targets, sr.num_classes, sr.ignore_value)
        # SR's weights are relative to the head's loss: they scale with its loss_weight (0.5 in
        # detectron2's Panoptic-FPN), so SR weighs against the head as it does with weight 1.
        weight = getattr(head, "loss_weight", 1.0)
        losses.update({k: v * weight for k, v in sr(features, logits, targets, image_labels).items()})
        return None, losses


def _check_exit_features(wanted: Dict[str, ShapeSpec], available: Dict[str, ShapeSpec]) -> None:
    """ValueError naming each exit feature the backbone lacks or gives with other channels or stride."""
    problems = []
    for name, shape in wanted.items():
        if name not in available:
            problems.append(f"{name!r} is not a feature of the backbone {sorted(available)}")
        elif (shape.channels, shape.stride) != (available[name].channels, available[name].stride):
            problems.append(f"{name!r} is declared with channels={shape.channels}, stride={shape.stride}; "
                            f"the backbone gives channels={available[name].channels}, "
                            f"stride={available[name].stride}")
    if problems:
        raise ValueError("self_regulation.input_shape: " + "; ".join(problems))


@torch.no_grad()
def exit_inference(model: SelfRegulated, batched_inputs: List[dict]) -> List[Dict[str, torch.Tensor]]:
    """
    For analysis: the model's eval-mode semantic logits and each exit's, as (C, height, width)
    per image under "sem_seg" and the exits' feature names (exits resized and cropped as
    detectron2 post-processes the head's output).
    """
    sr = model.self_regulation
    padded = []  # the (H, W) of the batch the backbone sees, images padded
    handle = model.backbone.register_forward_pre_hook(lambda m, inputs: padded.append(inputs[0].shape[-2:]))
    try:
        with tapped_features(model.backbone) as features:
            outputs = model(batched_inputs)
    finally:
        handle.remove()
    results = []
    for n, (x, out) in enumerate(zip(batched_inputs, outputs)):
        size = tuple(x["image"].shape[-2:])
        height, width = x.get("height", size[0]), x.get("width", size[1])
        logits = {"sem_seg": out["sem_seg"]}
        for name in sr.in_features:
            seg = sr.exits[name](features[name][n : n + 1])[0]
            seg = F.interpolate(seg, size=tuple(padded[0]), mode="bilinear", align_corners=False)[0]
            logits[name] = sem_seg_postprocess(seg, size, height, width)
        results.append(logits)
    return results
