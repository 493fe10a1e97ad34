from typing import Callable, Dict, List, Optional

import torch
from torch import nn

from .losses import image_labels_from_mask
from .self_regulation import SelfRegulation

__all__ = ["SelfRegulatedHead", "image_labels_of"]

# detectron2's semantic-head interface, which SelfRegulatedHead needs of the head it wraps
HEAD_INTERFACE = ("layers", "losses", "ignore_value")


def image_labels_of(batched_inputs: Optional[List[dict]], targets: torch.Tensor, num_classes: int,
                    ignore_value: int) -> torch.Tensor:
    """
    (N, C) multi-hot image-level labels: an input's "image_labels" field (class ids) when its
    dataset provides one (weak supervision with pseudo-label masks), else the classes in its
    label map ``targets[n]`` ((N, H, W)).
    """
    labels = image_labels_from_mask(targets, num_classes, ignore_value)
    for n, x in enumerate(batched_inputs or []):
        if "image_labels" not in x:
            continue
        ids = torch.as_tensor(x["image_labels"], dtype=torch.long, device=targets.device)
        if ids.numel() and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(f"image_labels {ids.tolist()} of {x.get('file_name', n)!r} are outside "
                             f"the {num_classes} class ids")
        labels[n] = 0
        labels[n, ids] = 1
    return labels


class SelfRegulatedHead(nn.Module):
    """
    A semantic head trained with Self-Regulation, wrapped as PointRend wraps its coarse head.

    Training: the wrapped head's ``layers`` gives the final logits S_0 (or a tuple of them and
    auxiliary outputs, which its ``losses`` takes whole), its ``losses`` its loss, and
    ``self_regulation`` adds the exits' and SR's losses from the backbone features the head is
    given (the exits' features must be among them: a backbone that returns its stages, such as
    :class:`StagesFPN`). SR's losses are scaled by the head's ``loss_weight`` (0.5 in
    detectron2's Panoptic-FPN), so that SR weighs against the head as it does at weight 1.
    Inference: the wrapped head, untouched; no exit runs.
    """

    def __init__(self, head: nn.Module, self_regulation: SelfRegulation):
        """
        Args:
            head: a semantic head with ``layers``, ``losses`` and ``ignore_value``, as detectron2's
                SemSegFPNHead, DeepLabV3PlusHead and PanopticDeepLabSemSegHead.
            self_regulation: exits and SR losses over the head's classes and ignore value.
        """
        super().__init__()
        missing = [m for m in HEAD_INTERFACE if not hasattr(head, m)]
        if missing:
            raise TypeError(f"SelfRegulatedHead: the head {type(head).__name__} lacks {missing} "
                            f"(detectron2's semantic-head interface)")
        if self_regulation.ignore_value != head.ignore_value:
            raise ValueError(f"self_regulation.ignore_value={self_regulation.ignore_value} differs from "
                             f"sem_seg_head.ignore_value={head.ignore_value}")
        self.base_head = head
        self.self_regulation = self_regulation
        # the inputs of the batch being trained on, for their "image_labels": set by the
        # meta-architecture (detectron2's give the head features and label maps only)
        self.batched_inputs: Optional[List[dict]] = None
        # (batched_inputs, the head's (N, H, W) label maps) -> the exits' label maps, when the
        # exits' classes are not the head's (SRPanopticFPN's full-class exits); None: the same maps
        self.exit_targets: Optional[Callable[[Optional[List[dict]], torch.Tensor], torch.Tensor]] = None

    @property
    def ignore_value(self) -> int:
        return self.base_head.ignore_value

    def forward(self, features: Dict[str, torch.Tensor], targets: Optional[torch.Tensor] = None, *extra):
        """
        Args:
            features: backbone features by name: the head's and the exits'.
            targets: (N, H, W) label maps, padded as the images.
            extra: the head's other arguments (Panoptic-DeepLab's pixel weights).
        Returns:
            training: (None, the head's losses and SR's); inference: the head's output.
        """
        if not self.training:
            return self.base_head(features, targets, *extra)
        if targets is None:
            raise ValueError("SR training needs label maps: the inputs have no 'sem_seg'")
        outputs = self.base_head.layers(features)
        losses = self.base_head.losses(outputs, targets, *extra)
        logits = outputs[0] if isinstance(outputs, tuple) else outputs
        sr = self.self_regulation
        if self.exit_targets is not None:
            targets = self.exit_targets(self.batched_inputs, targets)
        image_labels = image_labels_of(self.batched_inputs, targets, sr.num_classes, sr.ignore_value)
        weight = getattr(self.base_head, "loss_weight", 1.0)
        losses.update({k: v * weight for k, v in sr(features, logits, targets, image_labels).items()})
        return None, losses
