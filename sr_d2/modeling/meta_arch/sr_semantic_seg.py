from typing import Dict, List

import torch
from torch.nn import functional as F

from detectron2.modeling import META_ARCH_REGISTRY, SemanticSegmentor
from detectron2.modeling.postprocessing import sem_seg_postprocess
from detectron2.structures import ImageList

from ..self_regulation import run_backbone
from .self_regulated import SelfRegulated

__all__ = ["SRSemanticSegmentor"]


@META_ARCH_REGISTRY.register()
class SRSemanticSegmentor(SelfRegulated, SemanticSegmentor):
    """
    detectron2's :class:`SemanticSegmentor` trained with Self-Regulation. Training adds exits on
    backbone features and the losses "loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l" to
    the head's "loss_sem_seg". Inference is the parent's, untouched: no exit runs.
    """

    def _images(self, batched_inputs: List[dict]) -> ImageList:
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        return ImageList.from_tensors(images, self.backbone.size_divisibility)

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            return super().forward(batched_inputs)
        images = self._images(batched_inputs)
        features, all_features = run_backbone(self.backbone, images.tensor)
        return self.semantic_losses(batched_inputs, images, features, all_features)

    def exit_inference(self, batched_inputs: List[dict]) -> List[Dict[str, torch.Tensor]]:
        """
        For analysis, not used in training or evaluation: the final logits and each exit's, as
        (C, height, width) per image, under keys "sem_seg" and the exits' feature names.
        """
        images = self._images(batched_inputs)
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
