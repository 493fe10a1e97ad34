"""
Object-contextual representations (Yuan, Chen, Wang, ECCV 2020) as a detectron2 semantic head.

    features (named, strides s_i) -> upsampled to the finest stride, concatenated: F
    F -> 3x3 conv: pixel representations X (N, D, h, w)
    F -> auxiliary classifier (two 1x1 convs): soft object regions M (N, K, h, w), aux loss
    object region representations  f_k = sum_i softmax_i(M_k)_i X_i          (N, K, D)
    pixel-region relation          w_ik = softmax_k(q(X_i) . k(f_k) / sqrt(D'))
    object contextual rep.         Y_i = out(sum_k w_ik v(f_k))
    augmented representation       Z_i = conv1x1([X_i, Y_i]) -> final classifier (N, K, h, w)
"""
import math
from typing import Dict, Optional, Tuple

import fvcore.nn.weight_init as weight_init
import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY

__all__ = ["OCRHead", "object_representations"]


def object_representations(regions: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """
    (N, K, h, w) soft-region logits and (N, D, h, w) pixel representations -> (N, K, D): each
    object's representation, the mean of the pixels weighted by its region's softmax over pixels.
    """
    weights = F.softmax(regions.flatten(2), dim=2)  # (N, K, hw)
    return torch.bmm(weights, pixels.flatten(2).transpose(1, 2))


def _resized(x: torch.Tensor, size) -> torch.Tensor:
    """(N, C, h, w) -> (N, C, *size), bilinear; unchanged when already that size."""
    if x.shape[-2:] == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _conv(in_channels: int, out_channels: int, kernel_size: int, norm: str) -> Conv2d:
    conv = Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=not norm,
                  norm=get_norm(norm, out_channels), activation=F.relu)
    weight_init.c2_msra_fill(conv)
    return conv


@SEM_SEG_HEADS_REGISTRY.register()
class OCRHead(nn.Module):
    """
    detectron2 semantic head (``layers`` / ``losses``, as ``SemSegFPNHead``): ``layers`` returns
    the final (N, K, h, w) logits and the auxiliary soft-region logits, at the finest input stride.
    """

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        num_classes: int,
        channels: int = 512,
        key_channels: int = 256,
        norm: str = "BN",
        dropout: float = 0.05,
        aux_loss_weight: float = 0.4,
        loss_weight: float = 1.0,
        ignore_value: int = -1,
    ):
        """
        Args:
            input_shape: the features the head reads, fused at the finest stride.
            channels: D, channels of the pixel, object and augmented representations.
            key_channels: D', channels of the query and key transforms.
            aux_loss_weight: weight of the soft-region classifier's CE (the paper: 0.4).
            loss_weight, ignore_value: as detectron2's semantic heads.
        """
        super().__init__()
        self.in_features = list(input_shape)
        self.common_stride = min(s.stride for s in input_shape.values())
        self.ignore_value, self.loss_weight = ignore_value, loss_weight
        self.aux_loss_weight = aux_loss_weight
        fused = sum(s.channels for s in input_shape.values())
        self.pixels = _conv(fused, channels, 3, norm)
        self.soft_regions = nn.Sequential(
            _conv(fused, channels, 1, norm), nn.Conv2d(channels, num_classes, 1)
        )
        self.query = nn.Sequential(
            _conv(channels, key_channels, 1, norm), _conv(key_channels, key_channels, 1, norm)
        )
        self.key = nn.Sequential(
            _conv(channels, key_channels, 1, norm), _conv(key_channels, key_channels, 1, norm)
        )
        self.value = _conv(channels, key_channels, 1, norm)
        self.context = _conv(key_channels, channels, 1, norm)
        self.augment = _conv(2 * channels, channels, 1, norm)
        self.dropout = nn.Dropout2d(dropout)
        self.predictor = nn.Conv2d(channels, num_classes, 1)
        for conv in (self.soft_regions[1], self.predictor):
            nn.init.normal_(conv.weight, std=0.001)
            nn.init.zeros_(conv.bias)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        head = cfg.MODEL.SEM_SEG_HEAD
        return {
            "input_shape": {k: v for k, v in input_shape.items() if k in head.IN_FEATURES},
            "num_classes": head.NUM_CLASSES,
            "norm": head.NORM,
            "loss_weight": head.LOSS_WEIGHT,
            "ignore_value": head.IGNORE_VALUE,
        }

    def forward(self, features: Dict[str, torch.Tensor], targets: Optional[torch.Tensor] = None):
        """As detectron2's semantic heads: (logits at input size, {}) in eval, (None, losses) in
        training."""
        logits = self.layers(features)
        if self.training:
            return None, self.losses(logits, targets)
        return F.interpolate(logits[0], scale_factor=self.common_stride, mode="bilinear",
                             align_corners=False), {}

    def layers(self, features: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Features by name -> (final logits, soft-region logits), each (N, K, h, w) at the finest
        stride.
        """
        size = max((features[f].shape[-2:] for f in self.in_features), key=lambda s: s[-1])
        x = torch.cat([_resized(features[f], size) for f in self.in_features], dim=1)
        regions = self.soft_regions(x)  # (N, K, h, w)
        pixels = self.pixels(x)  # (N, D, h, w)
        n, _, h, w = pixels.shape
        objects = object_representations(regions, pixels).transpose(1, 2)[..., None]  # (N, D, K, 1)
        query = self.query(pixels).flatten(2).transpose(1, 2)  # (N, hw, D')
        key = self.key(objects).flatten(2)  # (N, D', K)
        relation = F.softmax(torch.bmm(query, key) / math.sqrt(key.shape[1]), dim=2)  # (N, hw, K)
        value = self.value(objects).flatten(2).transpose(1, 2)  # (N, K, D')
        context = torch.bmm(relation, value).transpose(1, 2).reshape(n, -1, h, w)  # (N, D', h, w)
        augmented = self.augment(torch.cat([pixels, self.context(context)], dim=1))
        return self.predictor(self.dropout(augmented)), regions

    def losses(
        self, logits: Tuple[torch.Tensor, torch.Tensor], targets: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        """CE of the final and the soft-region logits (upsampled) against (N, H, W) ``targets``."""
        final, regions = (F.interpolate(x.float(), scale_factor=self.common_stride, mode="bilinear",
                                        align_corners=False) for x in logits)
        ce = {name: F.cross_entropy(x, targets, reduction="mean", ignore_index=self.ignore_value)
              for name, x in (("final", final), ("aux", regions))}
        return {"loss_sem_seg": ce["final"] * self.loss_weight,
                "loss_sem_seg_aux": ce["aux"] * self.aux_loss_weight * self.loss_weight}
