from typing import Dict

import torch
from torch.nn import functional as F

from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, FPN
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from detectron2.modeling.backbone.resnet import build_resnet_backbone

__all__ = ["StagesFPN", "build_resnet_stages_fpn_backbone"]


class StagesFPN(FPN):
    """
    detectron2's :class:`FPN` that also returns the features of its bottom-up network: for a
    ResNet, {"res2".."res5", "p2".."p6"}, so that exits can sit on the stages while the model's
    heads read the pyramid. Same arguments, weights and pyramid as FPN (tested bit for bit).
    """

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {**self.bottom_up.output_shape(), **super().output_shape()}

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(N, 3, H, W) images -> the bottom-up features and the pyramid levels, by name."""
        stages = self.bottom_up(x)
        return {**stages, **self.pyramid(stages)}

    def pyramid(self, stages: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The FPN levels from the bottom-up features: lateral 1x1 convs, top-down sum, output convs.
        Not ``FPN.forward``: it runs the bottom-up network itself and keeps only the pyramid, so
        calling it would run the ResNet twice; the levels equal its own bit for bit (tested)."""
        # lateral_convs / output_convs run from the deepest input feature to the shallowest
        names = self.in_features[::-1]
        top = self.lateral_convs[0](stages[names[0]])
        levels = [self.output_convs[0](top)]
        for name, lateral, output in zip(names[1:], self.lateral_convs[1:], self.output_convs[1:]):
            top = lateral(stages[name]) + F.interpolate(top, scale_factor=2.0, mode="nearest")
            if self._fuse_type == "avg":
                top = top / 2
            levels.insert(0, output(top))
        if self.top_block is not None:
            source = self.top_block.in_feature
            if source in stages:
                extra = self.top_block(stages[source])
            else:
                extra = self.top_block(levels[self._out_features.index(source)])
            levels.extend(extra)
        return dict(zip(self._out_features, levels))


@BACKBONE_REGISTRY.register()
def build_resnet_stages_fpn_backbone(cfg, input_shape: ShapeSpec) -> StagesFPN:
    """detectron2's ``build_resnet_fpn_backbone`` (yacs ``MODEL.RESNETS``, ``MODEL.FPN``), as a
    :class:`StagesFPN`: ``MODEL.BACKBONE.NAME: build_resnet_stages_fpn_backbone``."""
    return StagesFPN(
        bottom_up=build_resnet_backbone(cfg, input_shape),
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
