from .self_regulated import SelfRegulated, image_labels_of, padded_targets
from .sr_panoptic_fpn import SRPanopticFPN
from .sr_semantic_seg import SRSemanticSegmentor
