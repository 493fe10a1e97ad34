from typing import Optional

from detectron2.config import CfgNode
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.projects.panoptic_deeplab import PanopticDeepLab

from sr_d2.modeling import SelfRegulated, SelfRegulation, exit_feature_shapes

__all__ = ["SRPanopticDeepLab"]


@META_ARCH_REGISTRY.register()
class SRPanopticDeepLab(SelfRegulated, PanopticDeepLab):
    """
    detectron2's ``PanopticDeepLab`` with Self-Regulation on its semantic branch: exits on the
    backbone's features, SR's losses next to the semantic head's (hard-pixel-mined, weighted) CE;
    the instance branch (centers, offsets) and inference are the parent's, untouched.
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
