from .self_regulated import SelfRegulated, exit_inference, image_labels_of
from .sr_panoptic_fpn import SRPanopticFPN
from .sr_semantic_seg import SRSemanticSegmentor
