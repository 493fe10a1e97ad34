from .config import panoptic_deeplab_config
from .sr_panoptic_deeplab import SRPanopticDeepLab

__all__ = ["SRPanopticDeepLab", "panoptic_deeplab_config"]
