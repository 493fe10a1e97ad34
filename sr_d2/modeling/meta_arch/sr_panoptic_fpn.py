from typing import List

from detectron2.modeling import META_ARCH_REGISTRY, PanopticFPN

from ..self_regulation import run_backbone
from .self_regulated import SelfRegulated

__all__ = ["SRPanopticFPN"]


@META_ARCH_REGISTRY.register()
class SRPanopticFPN(SelfRegulated, PanopticFPN):
    """
    detectron2's :class:`PanopticFPN` trained with Self-Regulation on its semantic branch: the
    exits sit on the bottom-up stages, the semantic head's logits are the final output S_0 (over
    Panoptic-FPN's "separated" labels: 0 for all things, then the stuff classes), and the
    detection and mask losses are the parent's. Inference is the parent's: no exit runs.
    """

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            return super().forward(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        features, all_features = run_backbone(self.backbone, images.tensor)
        losses = self.semantic_losses(batched_inputs, images, features, all_features)
        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        proposals, proposal_losses = self.proposal_generator(images, features, gt_instances)
        _, detector_losses = self.roi_heads(images, features, proposals, gt_instances)
        losses.update(proposal_losses)
        losses.update(detector_losses)
        return losses
