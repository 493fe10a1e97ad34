from typing import Dict, List

import torch

from detectron2.modeling import META_ARCH_REGISTRY, PanopticFPN
from detectron2.structures import BitMasks, ImageList, PolygonMasks

from ..self_regulation import SelfRegulation
from .mixin import SRMetaArchMixin

__all__ = ["SRPanopticFPN", "full_class_targets"]


@META_ARCH_REGISTRY.register()
class SRPanopticFPN(SRMetaArchMixin, PanopticFPN):
    """
    detectron2's :class:`PanopticFPN` trained with Self-Regulation on its semantic branch: the
    exits sit on the bottom-up stages, the semantic head's logits are the final output S_0 (over
    Panoptic-FPN's "separated" labels: 0 for all things, then the stuff classes), and the
    proposal, detection and mask losses are the parent's heads' (:meth:`other_losses`).
    Inference is the parent's: no exit runs.

    Full-class exits: with ``self_regulation.final_classes = [0] * T + [1, ..., S - 1]`` (T thing
    classes, S separated classes) and ``num_classes = T + S - 1``, the exits learn each thing
    class and the stuff, from the instances' masks (:func:`full_class_targets`), while the head
    keeps its separated labels.
    """

    def _attach(self, self_regulation: SelfRegulation) -> None:
        super()._attach(self_regulation)
        if not self_regulation.regroups_classes:
            return
        things = self.roi_heads.num_classes
        expected = [0] * things + list(range(1, self_regulation.num_final_classes))
        if self_regulation.final_classes.tolist() != expected:
            raise ValueError(
                f"SRPanopticFPN: self_regulation.final_classes must put the {things} thing classes "
                f"(roi_heads.num_classes) in the semantic head's class 0 and each stuff class in its "
                f"own: {expected}, got {self_regulation.final_classes.tolist()}")

    def exit_targets(self, batched_inputs: List[dict], targets: torch.Tensor) -> torch.Tensor:
        if not self.self_regulation.regroups_classes:
            return targets
        return full_class_targets(batched_inputs, targets, self.roi_heads.num_classes,
                                  self.sem_seg_head.ignore_value)

    def other_losses(self, batched_inputs: List[dict], images: ImageList,
                     features: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The parent's proposal and detection (box, class, mask) losses."""
        instances = [x["instances"].to(self.device) for x in batched_inputs]
        proposals, losses = self.proposal_generator(images, features, instances)
        _, detector_losses = self.roi_heads(images, features, proposals, instances)
        losses.update(detector_losses)
        return losses


def full_class_targets(batched_inputs: List[dict], targets: torch.Tensor, num_things: int,
                       ignore_value: int) -> torch.Tensor:
    """
    Label maps over each thing class and the stuff, from Panoptic-FPN's training inputs.

    Args:
        batched_inputs: the batch, each input with its "instances" (``gt_classes``, and
            ``gt_masks`` as bit masks or polygons, at its image size).
        targets: (N, H, W) int64 "separated" label maps, padded as the images: 0 for any thing,
            k >= 1 for stuff class k, ``ignore_value`` for void.
    Returns:
        (N, H, W) int64: thing class t as t, stuff class k as ``num_things + k - 1``; a thing
        pixel takes the class of the (last) instance covering it, and is void if none does.
    """
    stuff = (targets > 0) & (targets != ignore_value)
    full = torch.where(stuff, targets + (num_things - 1), torch.full_like(targets, ignore_value))
    for n, x in enumerate(batched_inputs):
        instances = x["instances"]
        if len(instances) == 0:
            continue
        h, w = instances.image_size
        masks = instances.gt_masks
        if isinstance(masks, PolygonMasks):
            masks = BitMasks.from_polygon_masks(masks, h, w)
        masks = masks.tensor.to(targets.device)  # (I, h, w)
        order = torch.arange(1, len(masks) + 1, device=targets.device)[:, None, None]
        last = (masks * order).amax(dim=0)  # 1 + the last instance covering each pixel, 0 if none
        classes = instances.gt_classes.to(targets.device)[(last - 1).clamp(min=0)]
        thing = (targets[n, :h, :w] == 0) & (last > 0)
        full[n, :h, :w] = torch.where(thing, classes, full[n, :h, :w])
    return full
