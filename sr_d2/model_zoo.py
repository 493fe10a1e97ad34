"""
What sr-d2's configs and the projects' configs build on, as detectron2's ``model_zoo`` is for
its own: :func:`get_config` loads a config of sr-d2's ``configs/`` folder (a project imports its
data, schedule and SR nodes so, not by a path outside its folder), and the pieces that are code.
"""
import os
from typing import Dict

from omegaconf import DictConfig

from detectron2.config import LazyCall as L
from detectron2.config import LazyConfig
from detectron2.data import MetadataCatalog
from detectron2.layers import ShapeSpec
from detectron2.modeling import ResNet
from detectron2.modeling.backbone.resnet import BasicStem, BottleneckBlock

__all__ = ["CONFIGS", "PIXEL_MEAN_BGR", "PIXEL_MEAN_RGB", "PIXEL_STD_BGR", "PIXEL_STD_RGB", "get_config",
           "head_classes", "resnet50", "resnet50_shapes"]

# sr-d2's configs/ folder, beside the package in its source tree
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")

# ImageNet statistics of RGB images in 0-255 (detectron2's BGR ones, reordered): the R-18 models.
PIXEL_MEAN_RGB = [123.675, 116.28, 103.53]
PIXEL_STD_RGB = [58.395, 57.12, 57.375]
# The MSRA R-50's input statistics (detectron2's defaults: BGR in 0-255, no std).
PIXEL_MEAN_BGR = [103.530, 116.280, 123.675]
PIXEL_STD_BGR = [1.0, 1.0, 1.0]
_R50_CHANNELS = {"res2": 256, "res3": 512, "res4": 1024, "res5": 2048}


def get_config(path: str) -> DictConfig:
    """The LazyConfig ``configs/<path>`` of sr-d2 (e.g. "camvid/sem_seg_fpn_R18.py");
    FileNotFoundError naming it where it is missing (the configs ship with sr-d2's source:
    install it from its folder, ``pip install -e .``)."""
    file = os.path.join(CONFIGS, path)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"sr-d2 config {path!r}: no {file} (sr-d2's configs come with its source "
                                "folder; install sr-d2 from it with pip install -e .)")
    return LazyConfig.load(file)


def head_classes(dataset_name: str) -> Dict[str, int]:
    """``num_classes`` and ``ignore_value`` of a semantic head, from the dataset's metadata."""
    meta = MetadataCatalog.get(dataset_name)
    return dict(num_classes=len(meta.stuff_classes), ignore_value=meta.ignore_label)


def resnet50(norm: str, freeze_at: int, res5_dilation: int = 1):
    """A LazyCall'd R-50 giving res2..res5, in the layout of detectron2's ImageNet R-50.pkl (loaded
    from a local file given as ``train.init_checkpoint``); ``res5_dilation=2`` keeps res5 at stride
    16 (DeepLab)."""
    stages = []
    in_channels = 64
    for i, (name, blocks) in enumerate(zip(_R50_CHANNELS, (3, 4, 6, 3))):
        first_stride = 1 if i == 0 or (name == "res5" and res5_dilation > 1) else 2
        stages.append(L(ResNet.make_stage)(
            block_class=BottleneckBlock, num_blocks=blocks, in_channels=in_channels,
            out_channels=_R50_CHANNELS[name], bottleneck_channels=_R50_CHANNELS[name] // 4,
            stride_per_block=[first_stride] + [1] * (blocks - 1), norm=norm, stride_in_1x1=True,
            dilation=res5_dilation if name == "res5" else 1,
        ))
        in_channels = _R50_CHANNELS[name]
    return L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels=64, norm=norm),
        stages=stages,
        out_features=list(_R50_CHANNELS),
        freeze_at=freeze_at,
    )


def resnet50_shapes(res5_dilation: int = 1) -> dict:
    """Shapes of the R-50 stages res2..res5, for heads and SR's exits."""
    strides = {"res2": 4, "res3": 8, "res4": 16, "res5": 16 if res5_dilation > 1 else 32}
    return {name: L(ShapeSpec)(channels=c, stride=strides[name]) for name, c in _R50_CHANNELS.items()}
