"""What every SR meta-architecture shares: its semantic head wrapped in a SelfRegulatedHead."""
from typing import Dict, List

import torch
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.postprocessing import sem_seg_postprocess

from ..self_regulated_head import SelfRegulatedHead
from ..self_regulation import SelfRegulation, exit_feature_shapes

__all__ = ["SelfRegulated", "exit_inference", "wrap_head_keys"]


class SelfRegulated:
    """
    Mixin for a detectron2 meta-architecture with a semantic head (``sem_seg_head``, see
    :class:`SelfRegulatedHead`): listed before the meta-architecture, it adds the
    ``self_regulation`` argument and wraps the head in a :class:`SelfRegulatedHead`. Training
    runs the parent's own ``forward`` (its preprocessing, padding and other losses); the
    backbone must return the exits' features (:class:`StagesFPN` for an FPN). Inference is the
    parent's, untouched: no exit runs. A parent built from a yacs config alone (Panoptic-DeepLab)
    is subclassed with an ``__init__`` that builds it and then calls ``_attach``.

    State-dict keys: the head's under "sem_seg_head.base_head.", SR's under
    "sem_seg_head.self_regulation."; the base model's checkpoints (the head under
    "sem_seg_head.") load too.
    """

    @configurable
    def __init__(self, *, self_regulation: SelfRegulation, **kwargs):
        """
        Args:
            self_regulation: exits and SR losses; its features must be outputs of the backbone,
                its classes and ignore value the semantic head's.
            kwargs: arguments of the meta-architecture.
        """
        super().__init__(**kwargs)
        self._attach(self_regulation)

    def _attach(self, self_regulation: SelfRegulation) -> None:
        """Check ``self_regulation`` against the built backbone and wrap the semantic head with it."""
        _check_exit_features(self_regulation.input_shape, self.backbone)
        self.sem_seg_head = SelfRegulatedHead(self.sem_seg_head, self_regulation)

    @property
    def self_regulation(self) -> SelfRegulation:
        return self.sem_seg_head.self_regulation

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        shapes = exit_feature_shapes(ret["backbone"], cfg.MODEL.SR.IN_FEATURES)
        ret["self_regulation"] = SelfRegulation(cfg, shapes)
        return ret

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            return super().forward(batched_inputs)
        self.sem_seg_head.batched_inputs = batched_inputs  # their "image_labels", if any
        try:
            return super().forward(batched_inputs)
        finally:
            self.sem_seg_head.batched_inputs = None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        wrap_head_keys(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def wrap_head_keys(state_dict: Dict[str, torch.Tensor], prefix: str) -> None:
    """In place: the keys of the base model's checkpoint (its head at "sem_seg_head.") moved to
    where the wrapped head is, "sem_seg_head.base_head."; SR's own keys are left as they are."""
    head = prefix + "sem_seg_head."
    wrapped = (head + "base_head.", head + "self_regulation.")
    for key in list(state_dict):
        if key.startswith(head) and not key.startswith(wrapped):
            state_dict[wrapped[0] + key[len(head):]] = state_dict.pop(key)


def _check_exit_features(wanted: Dict[str, ShapeSpec], backbone) -> None:
    """ValueError naming each exit feature the backbone does not return, or returns with other
    channels or stride."""
    available = backbone.output_shape()
    problems = []
    for name, shape in wanted.items():
        if name not in available:
            hint = ""
            if name in getattr(getattr(backbone, "bottom_up", None), "output_shape", dict)():
                hint = (f" ({name!r} is a feature of its bottom_up: build the backbone as "
                        f"sr_d2.modeling.StagesFPN, which returns them too)")
            problems.append(f"{name!r} is not a feature of the backbone {sorted(available)}{hint}")
        elif (shape.channels, shape.stride) != (available[name].channels, available[name].stride):
            problems.append(f"{name!r} is declared with channels={shape.channels}, stride={shape.stride}; "
                            f"the backbone gives channels={available[name].channels}, "
                            f"stride={available[name].stride}")
    if problems:
        raise ValueError("self_regulation.input_shape: " + "; ".join(problems))


@torch.no_grad()
def exit_inference(model: SelfRegulated, batched_inputs: List[dict]) -> List[Dict[str, torch.Tensor]]:
    """
    For analysis: the model's eval-mode semantic logits and each exit's, as (C, height, width)
    per image under "sem_seg" and the exits' feature names (exits resized and cropped as
    detectron2 post-processes the head's output).
    """
    sr = model.self_regulation
    seen = {}  # the padded images the backbone sees and its features, recorded for the exits
    handle = model.backbone.register_forward_hook(
        lambda module, inputs, outputs: seen.update(size=inputs[0].shape[-2:], features=outputs))
    try:
        outputs = model(batched_inputs)
    finally:
        handle.remove()
    results = []
    for n, (x, out) in enumerate(zip(batched_inputs, outputs)):
        size = tuple(x["image"].shape[-2:])
        height, width = x.get("height", size[0]), x.get("width", size[1])
        logits = {"sem_seg": out["sem_seg"]}
        for name in sr.in_features:
            seg = sr.exits[name](seen["features"][name][n : n + 1])[0]
            seg = F.interpolate(seg, size=tuple(seen["size"]), mode="bilinear", align_corners=False)[0]
            logits[name] = sem_seg_postprocess(seg, size, height, width)
        results.append(logits)
    return results
