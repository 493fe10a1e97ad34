"""What every SR meta-architecture shares: its semantic head wrapped in a SRHeadWrapper."""
from typing import Dict, List

import torch
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.postprocessing import sem_seg_postprocess
from detectron2.structures import ImageList

from ..head_wrapper import SRHeadWrapper, image_labels_of
from ..self_regulation import SelfRegulation, exit_feature_shapes

__all__ = ["SRMetaArchMixin", "exit_inference", "wrap_head_keys"]


class SRMetaArchMixin:
    """
    What makes a detectron2 meta-architecture self-regulated: its semantic head in an SRHeadWrapper.

    Mixin for a detectron2 meta-architecture with a semantic head (``sem_seg_head``, see
    :class:`SRHeadWrapper`): listed before the meta-architecture, it adds the
    ``self_regulation`` argument and wraps the head in a :class:`SRHeadWrapper`. Training
    normalizes and pads the images as the parent does, runs the backbone (which must return the
    exits' features: :class:`StagesFPN` for an FPN) and gives the head the label maps and the
    image-level labels as arguments; a parent with other branches adds their losses in
    ``other_losses``. Inference is the parent's, untouched: no exit runs. A parent built from a
    yacs config alone (Panoptic-DeepLab) is subclassed with an ``__init__`` that builds it and
    then calls ``_attach``.

    State-dict keys: the head's under "sem_seg_head.base_head.", SR's under
    "sem_seg_head.self_regulation."; the base model's checkpoints (the head under
    "sem_seg_head.") load too.
    """

    @configurable
    def __init__(self, *, self_regulation: SelfRegulation, **kwargs):
        """
        Args:
            self_regulation: exits and SR losses; its features must be outputs of the backbone,
                its classes and ignore value the semantic head's.
            kwargs: arguments of the meta-architecture.
        """
        super().__init__(**kwargs)
        self._attach(self_regulation)

    def _attach(self, self_regulation: SelfRegulation) -> None:
        """Check ``self_regulation`` against the built backbone and wrap the semantic head with it."""
        _check_exit_features(self_regulation.input_shape, self.backbone)
        self.sem_seg_head = SRHeadWrapper(self.sem_seg_head, self_regulation)

    @property
    def self_regulation(self) -> SelfRegulation:
        return self.sem_seg_head.self_regulation

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        shapes = exit_feature_shapes(ret["backbone"], cfg.MODEL.SR.IN_FEATURES)
        ret["self_regulation"] = SelfRegulation(cfg, shapes)
        return ret

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            return super().forward(batched_inputs)
        images = self.padded_images(batched_inputs)
        features = self.backbone(images.tensor)
        losses = self.sem_seg_losses(batched_inputs, features)
        losses.update(self.other_losses(batched_inputs, images, features))
        return losses

    def padded_images(self, batched_inputs: List[dict]) -> ImageList:
        """The inputs' images normalized, batched and padded as the parent does."""
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        return self.padded(images)

    def padded(self, tensors: List[torch.Tensor], pad_value: float = 0.0) -> ImageList:
        """(..., H_i, W_i) tensors batched and padded as the parent pads its images."""
        constraints = getattr(self.backbone, "padding_constraints", None)  # detectron2 main only
        if constraints:
            return ImageList.from_tensors(tensors, self.backbone.size_divisibility, pad_value, constraints)
        return ImageList.from_tensors(tensors, self.backbone.size_divisibility, pad_value)

    def sem_seg_losses(self, batched_inputs: List[dict], features: Dict[str, torch.Tensor], *extra):
        """The semantic head's and SR's losses; ``extra``: the head's other arguments."""
        missing = [x.get("file_name", n) for n, x in enumerate(batched_inputs) if "sem_seg" not in x]
        if missing:
            raise ValueError(f"SR training needs label maps: the inputs {missing} have no 'sem_seg'")
        head = self.sem_seg_head
        targets = [x["sem_seg"].to(self.device) for x in batched_inputs]
        targets = self.padded(targets, head.ignore_value).tensor
        exit_targets = self.exit_targets(batched_inputs, targets)
        sr = self.self_regulation
        image_labels = image_labels_of(batched_inputs, exit_targets, sr.num_classes, sr.ignore_value)
        _, losses = head(features, targets, *extra, image_labels=image_labels, exit_targets=exit_targets)
        return losses

    def exit_targets(self, batched_inputs: List[dict], targets: torch.Tensor) -> torch.Tensor:
        """(N, H, W) label maps over the exits' classes, from the head's padded ``targets``."""
        return targets

    def other_losses(self, batched_inputs: List[dict], images: ImageList,
                     features: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The losses of the parent's other branches (none for a semantic segmentor)."""
        return {}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        wrap_head_keys(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def wrap_head_keys(state_dict: Dict[str, torch.Tensor], prefix: str) -> None:
    """In place: the keys of the base model's checkpoint (its head at "sem_seg_head.") moved to
    where the wrapped head is, "sem_seg_head.base_head."; SR's own keys are left as they are."""
    head = prefix + "sem_seg_head."
    wrapped = (head + "base_head.", head + "self_regulation.")
    for key in list(state_dict):
        if key.startswith(head) and not key.startswith(wrapped):
            state_dict[wrapped[0] + key[len(head):]] = state_dict.pop(key)


def _check_exit_features(wanted: Dict[str, ShapeSpec], backbone) -> None:
    """ValueError naming each exit feature the backbone does not return, or returns with other
    channels or stride."""
    available = backbone.output_shape()
    problems = []
    for name, shape in wanted.items():
        if name not in available:
            hint = ""
            if name in getattr(getattr(backbone, "bottom_up", None), "output_shape", dict)():
                hint = (f" ({name!r} is a feature of its bottom_up: build the backbone as "
                        f"sr_d2.modeling.StagesFPN, which returns them too)")
            problems.append(f"{name!r} is not a feature of the backbone {sorted(available)}{hint}")
        elif (shape.channels, shape.stride) != (available[name].channels, available[name].stride):
            problems.append(f"{name!r} is declared with channels={shape.channels}, stride={shape.stride}; "
                            f"the backbone gives channels={available[name].channels}, "
                            f"stride={available[name].stride}")
    if problems:
        raise ValueError("self_regulation.input_shape: " + "; ".join(problems))


@torch.no_grad()
def exit_inference(model: SRMetaArchMixin, batched_inputs: List[dict]) -> List[Dict[str, torch.Tensor]]:
    """
    For analysis: the eval-mode semantic head's logits and each exit's, as (C, height, width) per
    image under "sem_seg" and the exits' feature names, from one backbone pass (each resized and
    cropped as detectron2 post-processes the head's output).
    """
    sr = model.self_regulation
    images = model.padded_images(batched_inputs)
    features = model.backbone(images.tensor)
    final, _ = model.sem_seg_head(features)
    padded_size = images.tensor.shape[-2:]
    results = []
    for n, (x, size) in enumerate(zip(batched_inputs, images.image_sizes)):
        height, width = x.get("height", size[0]), x.get("width", size[1])
        logits = {"sem_seg": sem_seg_postprocess(final[n], size, height, width)}
        for name in sr.in_features:
            seg = sr.exits[name](features[name][n : n + 1])[0]
            seg = F.interpolate(seg, size=padded_size, mode="bilinear", align_corners=False)[0]
            logits[name] = sem_seg_postprocess(seg, size, height, width)
        results.append(logits)
    return results
