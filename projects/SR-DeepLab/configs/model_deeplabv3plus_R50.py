"""
detectron2's DeepLabV3PlusHead on an R-50 from ImageNet weights with a dilated res5 (output
stride 16, as detectron2's DeepLab recipes; their DeepLab stem and multi-grid are not used here),
every norm ``${train.norm}``.
"""
from detectron2.config import LazyCall as L
from detectron2.modeling import SemanticSegmentor
from detectron2.projects.deeplab import DeepLabV3PlusHead
from sr_d2.model_zoo import PIXEL_MEAN_BGR, PIXEL_STD_BGR, resnet50, resnet50_shapes

_shapes = resnet50_shapes(res5_dilation=2)
model = L(SemanticSegmentor)(
    backbone=resnet50(norm="${train.norm}", freeze_at=0, res5_dilation=2),
    sem_seg_head=L(DeepLabV3PlusHead)(
        input_shape={"res2": _shapes["res2"], "res5": _shapes["res5"]},
        project_channels=[48],
        aspp_dilations=[6, 12, 18],
        aspp_dropout=0.1,
        decoder_channels=[256, 256],
        common_stride=4,
        norm="${train.norm}",
        train_size=None,  # global pooling in ASPP
        num_classes="???",
        ignore_value="???",
    ),
    pixel_mean=PIXEL_MEAN_BGR,
    pixel_std=PIXEL_STD_BGR,
)
