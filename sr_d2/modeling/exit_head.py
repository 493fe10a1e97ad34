from typing import Sequence, Tuple

import fvcore.nn.weight_init as weight_init
import torch
from torch import nn
from torch.nn import functional as F

from detectron2.layers import Conv2d, get_norm

__all__ = ["ExitHead", "ImageClassifier"]


class ImageClassifier(nn.Linear):
    """Image-level classifier of a segmentation output: Linear (C -> C) on its globally pooled logits."""

    def __init__(self, num_classes: int):
        super().__init__(num_classes, num_classes)

    def forward(self, seg_logits: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) segmentation logits -> (N, C) image-level logits."""
        return super().forward(seg_logits.mean(dim=(2, 3)))


class ExitHead(nn.Module):
    """
    One exit of the multi-exit architecture (MEA), used in training only: convs on a backbone
    feature, a 1x1 pixel classifier, and an :class:`ImageClassifier` on the pixel logits.

    ``conv_kernels=(3, 3)`` with ``conv_dims=256`` is the official code's exit; ``()`` is a bare
    1x1 classifier on the feature.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        conv_dims: int,
        conv_kernels: Sequence[int],
        norm: str = "BN",
    ):
        """
        Args:
            conv_dims: channels of each conv.
            conv_kernels: kernel size of each conv (each followed by ``norm`` and ReLU).
            norm: a ``detectron2.layers.get_norm`` name ("BN", "SyncBN", "GN", "" for none).
        """
        super().__init__()
        convs = []
        channels = in_channels
        for k in conv_kernels:
            conv = Conv2d(
                channels,
                conv_dims,
                kernel_size=k,
                padding=k // 2,
                bias=not norm,
                norm=get_norm(norm, conv_dims),
                activation=F.relu,
            )
            weight_init.c2_msra_fill(conv)
            convs.append(conv)
            channels = conv_dims
        self.convs = nn.Sequential(*convs)
        self.predictor = Conv2d(channels, num_classes, kernel_size=1)
        weight_init.c2_msra_fill(self.predictor)
        self.image_classifier = ImageClassifier(num_classes)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            x: (N, in_channels, h, w) feature.
        Returns:
            (N, C, h, w) segmentation logits and (N, C) image-level logits.
        """
        seg_logits = self.predictor(self.convs(x))
        return seg_logits, self.image_classifier(seg_logits)
