from detectron2.modeling import META_ARCH_REGISTRY, SemanticSegmentor

from .mixin import SRMetaArchMixin

__all__ = ["SRSemanticSegmentor"]


@META_ARCH_REGISTRY.register()
class SRSemanticSegmentor(SRMetaArchMixin, SemanticSegmentor):
    """
    detectron2's :class:`SemanticSegmentor` trained with Self-Regulation. Training adds exits on
    backbone features and the losses "loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l" to
    the head's "loss_sem_seg". Inference is the parent's, untouched: no exit runs.
    """
