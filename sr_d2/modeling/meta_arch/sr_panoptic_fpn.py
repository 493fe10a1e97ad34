from typing import Dict, List

import torch

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, PanopticFPN

from ..self_regulation import SelfRegulation, exit_feature_shapes, run_backbone
from .sr_semantic_seg import image_labels_of, padded_targets

__all__ = ["SRPanopticFPN"]


@META_ARCH_REGISTRY.register()
class SRPanopticFPN(PanopticFPN):
    """
    detectron2's :class:`PanopticFPN` trained with Self-Regulation on its semantic branch: the
    exits sit on the bottom-up stages, the semantic head's logits are the final output S_0, and
    the detection and mask losses are the parent's. Inference is the parent's: no exit runs.
    """

    @configurable
    def __init__(self, *, self_regulation: SelfRegulation, **kwargs):
        """
        Args:
            self_regulation: exits and SR losses over the semantic head's classes (Panoptic-FPN's
                "separated" labels: 0 for all things, then the stuff classes).
            kwargs: arguments of :class:`PanopticFPN`.
        """
        super().__init__(**kwargs)
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
        images = self.preprocess_image(batched_inputs)
        features, all_features = run_backbone(self.backbone, images.tensor)
        head = self.sem_seg_head
        targets = padded_targets(batched_inputs, images, head.ignore_value)
        logits = head.layers(features)
        losses: Dict[str, torch.Tensor] = head.losses(logits, targets)

        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        proposals, proposal_losses = self.proposal_generator(images, features, gt_instances)
        _, detector_losses = self.roi_heads(images, features, proposals, gt_instances)
        losses.update(proposal_losses)
        losses.update(detector_losses)

        sr = self.self_regulation
        image_labels = image_labels_of(batched_inputs, targets, sr.num_classes, sr.ignore_value)
        losses.update(sr(all_features, logits, targets, image_labels))
        return losses
