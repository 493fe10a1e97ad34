from typing import Dict, List

import torch
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, SemanticSegmentor
from detectron2.modeling.postprocessing import sem_seg_postprocess
from detectron2.structures import ImageList

from ..losses import image_labels_from_mask
from ..self_regulation import SelfRegulation, exit_feature_shapes, run_backbone

__all__ = ["SRSemanticSegmentor", "image_labels_of", "padded_targets"]


def image_labels_of(batched_inputs: List[dict], targets: torch.Tensor, num_classes: int,
                    ignore_value: int) -> torch.Tensor:
    """
    (N, C) multi-hot image-level labels: an image's "image_labels" field (list of class ids) when
    its dataset provides one (e.g. weak supervision with pseudo-label masks), else the classes in
    its label map ``targets[n]`` ((N, H, W)).
    """
    labels = image_labels_from_mask(targets, num_classes, ignore_value)
    for n, x in enumerate(batched_inputs):
        if "image_labels" in x:
            ids = torch.as_tensor(x["image_labels"], dtype=torch.long, device=targets.device)
            if ids.numel() and (ids.min() < 0 or ids.max() >= num_classes):
                raise ValueError(f"image_labels {ids.tolist()} of {x.get('file_name', n)!r} are "
                                 f"outside the {num_classes} class ids")
            labels[n] = 0
            labels[n, ids] = 1
    return labels


def padded_targets(batched_inputs: List[dict], images: ImageList, ignore_value: int) -> torch.Tensor:
    """(N, H, W) label maps ("sem_seg" of each input) padded with ``ignore_value`` like ``images``."""
    targets = images.tensor.new_full(
        (len(batched_inputs), *images.tensor.shape[-2:]), ignore_value, dtype=torch.long
    )
    for n, x in enumerate(batched_inputs):
        h, w = x["sem_seg"].shape[-2:]
        targets[n, :h, :w] = x["sem_seg"].to(targets.device)
    return targets


@META_ARCH_REGISTRY.register()
class SRSemanticSegmentor(SemanticSegmentor):
    """
    detectron2's :class:`SemanticSegmentor` trained with Self-Regulation. Training adds exits on
    backbone features and the losses "loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l" to
    the head's "loss_sem_seg". Inference is the parent's, untouched: no exit runs.
    """

    @configurable
    def __init__(self, *, self_regulation: SelfRegulation, **kwargs):
        """
        Args:
            self_regulation: exits and SR losses; its features are looked up among the backbone's
                outputs and those of its ``bottom_up`` (ResNet stages under an FPN).
            kwargs: arguments of :class:`SemanticSegmentor`.
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
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        images = ImageList.from_tensors(images, self.backbone.size_divisibility)
        features, all_features = run_backbone(self.backbone, images.tensor)
        targets = padded_targets(batched_inputs, images, self.sem_seg_head.ignore_value)

        head = self.sem_seg_head
        logits = head.layers(features)
        losses: Dict[str, torch.Tensor] = head.losses(logits, targets)
        sr = self.self_regulation
        image_labels = image_labels_of(batched_inputs, targets, sr.num_classes, sr.ignore_value)
        losses.update(sr(all_features, logits, targets, image_labels))
        return losses

    def exit_inference(self, batched_inputs: List[dict]) -> List[Dict[str, torch.Tensor]]:
        """
        For analysis, not used in training or evaluation: the final logits and each exit's, as
        (C, height, width) per image, under keys "sem_seg" and the exits' feature names.
        """
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        images = ImageList.from_tensors(images, self.backbone.size_divisibility)
        features, all_features = run_backbone(self.backbone, images.tensor)
        logits = {"sem_seg": self.sem_seg_head.layers(features)}
        for name in self.self_regulation.in_features:
            logits[name] = self.self_regulation.exits[name](all_features[name])[0]
        padded = tuple(images.tensor.shape[-2:])
        results = []
        for n, (x, size) in enumerate(zip(batched_inputs, images.image_sizes)):
            height, width = x.get("height", size[0]), x.get("width", size[1])
            results.append({
                name: sem_seg_postprocess(
                    F.interpolate(v[n : n + 1], size=padded, mode="bilinear", align_corners=False)[0],
                    size, height, width,
                )
                for name, v in logits.items()
            })
        return results
