from detectron2.modeling import META_ARCH_REGISTRY, PanopticFPN

from .self_regulated import SelfRegulated

__all__ = ["SRPanopticFPN"]


@META_ARCH_REGISTRY.register()
class SRPanopticFPN(SelfRegulated, PanopticFPN):
    """
    detectron2's :class:`PanopticFPN` trained with Self-Regulation on its semantic branch: the
    exits sit on the bottom-up stages, the semantic head's logits are the final output S_0 (over
    Panoptic-FPN's "separated" labels: 0 for all things, then the stuff classes), and the
    detection and mask losses are the parent's. Inference is the parent's: no exit runs.
    """
