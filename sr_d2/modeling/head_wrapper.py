from typing import Dict, List, Optional

import torch
from torch import nn

from .losses import image_labels_from_mask
from .self_regulation import SelfRegulation

__all__ = ["SRHeadWrapper", "image_labels_of"]

# detectron2's semantic-head interface, which SRHeadWrapper needs of the head it wraps
HEAD_INTERFACE = ("layers", "losses", "ignore_value")


def image_labels_of(batched_inputs: List[dict], targets: torch.Tensor, num_classes: int,
                    ignore_value: int) -> torch.Tensor:
    """
    (N, C) multi-hot image-level labels: an input's "image_labels" field (class ids) when its
    dataset provides one (weak supervision with pseudo-label masks), else the classes in its
    label map ``targets[n]`` ((N, H, W)).
    """
    labels = image_labels_from_mask(targets, num_classes, ignore_value)
    for n, x in enumerate(batched_inputs):
        if "image_labels" not in x:
            continue
        ids = torch.as_tensor(x["image_labels"], dtype=torch.long, device=targets.device)
        if ids.numel() and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(f"image_labels {ids.tolist()} of {x.get('file_name', n)!r} are outside "
                             f"the {num_classes} class ids")
        labels[n] = 0
        labels[n, ids] = 1
    return labels


class SRHeadWrapper(nn.Module):
    """
    A semantic head and its SelfRegulation: trained together, the head alone at inference
    (wrapped as PointRend wraps its coarse head).

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
            raise TypeError(f"SRHeadWrapper: the head {type(head).__name__} lacks {missing} "
                            f"(detectron2's semantic-head interface)")
        if self_regulation.ignore_value != head.ignore_value:
            raise ValueError(f"self_regulation.ignore_value={self_regulation.ignore_value} differs from "
                             f"sem_seg_head.ignore_value={head.ignore_value}")
        self.base_head = head
        self.self_regulation = self_regulation

    @property
    def ignore_value(self) -> int:
        return self.base_head.ignore_value

    def forward(self, features: Dict[str, torch.Tensor], targets: Optional[torch.Tensor] = None, *extra,
                image_labels: Optional[torch.Tensor] = None, exit_targets: Optional[torch.Tensor] = None):
        """
        Args:
            features: backbone features by name: the head's and the exits'.
            targets: (N, H, W) label maps, padded as the images.
            extra: the head's other arguments (Panoptic-DeepLab's pixel weights).
            image_labels: (N, K) multi-hot image-level labels over the exits' K classes
                (:func:`image_labels_of`); None: the classes in the exits' label maps.
            exit_targets: (N, H, W) label maps over the exits' classes when these are not the
                head's (SRPanopticFPN's full-class exits); None: ``targets``.
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
        exit_targets = targets if exit_targets is None else exit_targets
        if image_labels is None:
            image_labels = image_labels_from_mask(exit_targets, sr.num_classes, sr.ignore_value)
        weight = getattr(self.base_head, "loss_weight", 1.0)
        losses.update({k: v * weight for k, v in sr(features, logits, exit_targets, image_labels).items()})
        return None, losses
