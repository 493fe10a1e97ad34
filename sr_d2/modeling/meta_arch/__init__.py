from .sr_panoptic_fpn import SRPanopticFPN
from .sr_semantic_seg import SRSemanticSegmentor
