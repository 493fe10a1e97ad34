from typing import Sequence, Tuple

import fvcore.nn.weight_init as weight_init
import torch
from torch import nn
from torch.nn import functional as F

from detectron2.layers import Conv2d, get_norm

from ..utils import is_setting

__all__ = ["ExitHead", "ImageClassifier", "grad_scaled"]


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
        backbone_grad_scale: float = 1.0,
    ):
        """
        Args:
            conv_dims: channels of each conv.
            conv_kernels: kernel size of each conv (each followed by ``norm`` and ReLU).
            norm: a ``detectron2.layers.get_norm`` name ("BN", "SyncBN", "GN", "" for none).
            backbone_grad_scale: the gradient the exit sends into its input feature is multiplied
                by this: 1 trains the backbone with the exit's losses (the paper), 0 detaches the
                input (the exit learns, the backbone is left to the model's heads).
        """
        super().__init__()
        if not is_setting(backbone_grad_scale):
            raise ValueError(f"ExitHead: backbone_grad_scale must be a finite number >= 0, got "
                             f"{backbone_grad_scale!r}")
        self.backbone_grad_scale = float(backbone_grad_scale)
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
        seg_logits = self.predictor(self.convs(grad_scaled(x, self.backbone_grad_scale)))
        return seg_logits, self.image_classifier(seg_logits)


class _GradScale(torch.autograd.Function):
    """The identity forward; backward, the gradient times ``scale``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale, None


def grad_scaled(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x``, its gradient multiplied by ``scale`` on the way back (detached at 0)."""
    if scale == 1:
        return x
    return x.detach() if scale == 0 else _GradScale.apply(x, scale)
