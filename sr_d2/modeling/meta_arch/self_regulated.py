"""What every SR meta-architecture shares: the SelfRegulation module and the semantic losses."""
from typing import Dict, List

import torch

from detectron2.config import configurable
from detectron2.structures import ImageList

from ..losses import image_labels_from_mask
from ..self_regulation import SelfRegulation, exit_feature_shapes

__all__ = ["SelfRegulated", "image_labels_of", "padded_targets"]


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


def padded_targets(batched_inputs: List[dict], images: ImageList, ignore_value: int) -> torch.Tensor:
    """(N, H, W) label maps ("sem_seg" of each input) padded with ``ignore_value`` like ``images``."""
    targets = images.tensor.new_full(
        (len(batched_inputs), *images.tensor.shape[-2:]), ignore_value, dtype=torch.long
    )
    for n, x in enumerate(batched_inputs):
        h, w = x["sem_seg"].shape[-2:]
        targets[n, :h, :w] = x["sem_seg"].to(targets.device)
    return targets


class SelfRegulated:
    """
    Mixin for a detectron2 meta-architecture with a semantic head (``sem_seg_head`` with
    ``layers`` and ``losses``, as ``SemSegFPNHead`` and ``DeepLabV3PlusHead``): listed before
    the meta-architecture, it adds the ``self_regulation`` argument and :meth:`semantic_losses`.
    """

    @configurable
    def __init__(self, *, self_regulation: SelfRegulation, **kwargs):
        """
        Args:
            self_regulation: exits and SR losses; its features are looked up among the backbone's
                outputs and those of its ``bottom_up`` (ResNet stages under an FPN).
            kwargs: arguments of the meta-architecture.
        """
        super().__init__(**kwargs)
        self.self_regulation = self_regulation

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        shapes = exit_feature_shapes(ret["backbone"], cfg.MODEL.SR.IN_FEATURES)
        ret["self_regulation"] = SelfRegulation(cfg, shapes)
        return ret

    def semantic_losses(
        self,
        batched_inputs: List[dict],
        images: ImageList,
        features: Dict[str, torch.Tensor],
        all_features: Dict[str, torch.Tensor],
    ) -> Dict[str, torch.Tensor]:
        """
        The semantic head's loss and the SR losses in training, from the head's input
        ``features`` and ``all_features`` (those and the ``bottom_up`` stages: see ``run_backbone``).
        """
        head = self.sem_seg_head
        targets = padded_targets(batched_inputs, images, head.ignore_value)
        logits = head.layers(features)
        losses = head.losses(logits, targets)
        sr = self.self_regulation
        image_labels = image_labels_of(batched_inputs, targets, sr.num_classes, sr.ignore_value)
        losses.update(sr(all_features, logits, targets, image_labels))
        return losses
