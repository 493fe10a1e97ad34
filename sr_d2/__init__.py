"""Self-Regulation for semantic segmentation (Zhang et al., ICCV 2021) as a detectron2 extension."""
from . import data  # registers the builtin datasets
from . import modeling  # registers the meta-architectures

__version__ = "0.1.0"
