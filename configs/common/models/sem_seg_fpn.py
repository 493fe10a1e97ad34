"""detectron2's SemanticSegmentor: ResNet-18 + FPN, Panoptic-FPN's semantic head, from scratch."""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling import FPN, ResNet, SemanticSegmentor
from detectron2.modeling.backbone.resnet import BasicStem
from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead
from sr_d2.model_zoo import PIXEL_MEAN_RGB, PIXEL_STD_RGB

model = L(SemanticSegmentor)(
    backbone=L(FPN)(
        bottom_up=L(ResNet)(
            # No pretrained weights are loaded by default: BatchNorm trains (SyncBN on many GPUs).
            stem=L(BasicStem)(in_channels=3, out_channels=64, norm="BN"),
            stages=L(ResNet.make_default_stages)(depth=18, norm="BN"),
            out_features=["res2", "res3", "res4", "res5"],
            freeze_at=0,
        ),
        in_features="${.bottom_up.out_features}",
        out_channels=128,
    ),
    sem_seg_head=L(SemSegFPNHead)(
        input_shape={
            f: L(ShapeSpec)(stride=s, channels="${....backbone.out_channels}")
            for f, s in zip(["p2", "p3", "p4", "p5"], [4, 8, 16, 32])
        },
        num_classes="???",  # set from the dataset's metadata
        ignore_value="???",
        conv_dims=128,
        common_stride=4,
        norm="GN",
    ),
    pixel_mean=PIXEL_MEAN_RGB,
    pixel_std=PIXEL_STD_RGB,
)
