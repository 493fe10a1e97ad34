from .mixin import SRMetaArchMixin, exit_inference
from .sr_panoptic_fpn import SRPanopticFPN
from .sr_semantic_seg import SRSemanticSegmentor
