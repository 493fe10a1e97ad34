from typing import Dict, List, Optional

import torch

from detectron2.config import CfgNode
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.projects.panoptic_deeplab import PanopticDeepLab
from detectron2.structures import ImageList

from sr_d2.modeling import SRMetaArchMixin, SelfRegulation, exit_feature_shapes

__all__ = ["SRPanopticDeepLab"]


@META_ARCH_REGISTRY.register()
class SRPanopticDeepLab(SRMetaArchMixin, PanopticDeepLab):
    """
    detectron2's ``PanopticDeepLab`` with Self-Regulation on its semantic branch: exits on the
    backbone's features, SR's losses next to the semantic head's (hard-pixel-mined, weighted) CE;
    the instance branch's losses (centers, offsets) are the parent's head's, inference the
    parent's, untouched.
    """

    def __init__(self, cfg: CfgNode, self_regulation: Optional[SelfRegulation] = None):
        """
        Args:
            cfg: the parent's yacs config (:func:`panoptic_deeplab_config`).
            self_regulation: exits and SR losses; default: built from ``cfg.MODEL.SR`` on the
                backbone's features named there. The exit features must be backbone outputs
                (``MODEL.RESNETS.OUT_FEATURES`` lists res4 for an exit on it).
        """
        PanopticDeepLab.__init__(self, cfg)
        if self_regulation is None:
            shapes = exit_feature_shapes(self.backbone, cfg.MODEL.SR.IN_FEATURES)
            self_regulation = SelfRegulation(cfg, shapes)
        self._attach(self_regulation)

    def padded(self, tensors: List[torch.Tensor], pad_value: float = 0.0) -> ImageList:
        """Padded to the parent's own size divisibility (its ASPP's), when it sets one."""
        own = self.size_divisibility
        divisibility = own if own > 0 else self.backbone.size_divisibility
        return ImageList.from_tensors(tensors, divisibility, pad_value)

    def sem_seg_losses(self, batched_inputs: List[dict], features: Dict[str, torch.Tensor]):
        weights = None  # detectron2's default mapper gives none
        if "sem_seg_weights" in batched_inputs[0]:
            weights = self.padded([x["sem_seg_weights"].to(self.device) for x in batched_inputs]).tensor
        return super().sem_seg_losses(batched_inputs, features, weights)

    def other_losses(self, batched_inputs: List[dict], images: ImageList,
                     features: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The instance branch's center and offset losses, from the inputs' targets and weights."""
        targets = {key: self.padded([x[key].to(self.device) for x in batched_inputs]).tensor
                   for key in ("center", "center_weights", "offset", "offset_weights")}
        _, _, center_losses, offset_losses = self.ins_embed_head(
            features, targets["center"].unsqueeze(1), targets["center_weights"], targets["offset"],
            targets["offset_weights"])
        return {**center_losses, **offset_losses}
