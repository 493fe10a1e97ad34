"""
ResNet-50 for detectron2's recipes: ImageNet-pretrained weights in detectron2's R-50.pkl format
(MSRA, BGR input in 0-255, no std), loaded from a local file given as ``train.init_checkpoint``.
"""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling import ResNet
from detectron2.modeling.backbone.resnet import BasicStem, BottleneckBlock

# The MSRA R-50's input statistics (detectron2's defaults).
PIXEL_MEAN_BGR = [103.530, 116.280, 123.675]
PIXEL_STD_BGR = [1.0, 1.0, 1.0]
CHANNELS = {"res2": 256, "res3": 512, "res4": 1024, "res5": 2048}


def resnet50(norm: str, freeze_at: int, res5_dilation: int = 1):
    """A LazyCall'd R-50 giving res2..res5; ``res5_dilation=2`` keeps res5 at stride 16 (DeepLab)."""
    stages = []
    in_channels, stride = 64, 4
    for i, (name, blocks) in enumerate(zip(CHANNELS, (3, 4, 6, 3))):
        first_stride = 1 if i == 0 or (name == "res5" and res5_dilation > 1) else 2
        stages.append(L(ResNet.make_stage)(
            block_class=BottleneckBlock, num_blocks=blocks, in_channels=in_channels,
            out_channels=CHANNELS[name], bottleneck_channels=CHANNELS[name] // 4,
            stride_per_block=[first_stride] + [1] * (blocks - 1), norm=norm, stride_in_1x1=True,
            dilation=res5_dilation if name == "res5" else 1,
        ))
        in_channels = CHANNELS[name]
    return L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels=64, norm=norm),
        stages=stages,
        out_features=list(CHANNELS),
        freeze_at=freeze_at,
    )


def resnet50_shapes(res5_dilation: int = 1) -> dict:
    """Shapes of the R-50 stages res2..res5, for heads and SR's exits."""
    strides = {"res2": 4, "res3": 8, "res4": 16, "res5": 16 if res5_dilation > 1 else 32}
    return {name: L(ShapeSpec)(channels=c, stride=strides[name]) for name, c in CHANNELS.items()}
