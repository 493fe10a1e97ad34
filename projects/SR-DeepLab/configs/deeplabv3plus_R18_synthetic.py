"""Baseline: SemanticSegmentor with detectron2's DeepLabV3PlusHead on ResNet-18, synthetic set."""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling import ResNet, SemanticSegmentor
from detectron2.modeling.backbone.resnet import BasicStem
from detectron2.projects.deeplab import DeepLabV3PlusHead
from sr_d2.model_zoo import PIXEL_MEAN_RGB, PIXEL_STD_RGB, get_config, head_classes

# sr-d2's synthetic data, optimizer and schedule (its FPN model is replaced below)
_synthetic = get_config("synthetic/sem_seg_fpn_R18.py")
dataloader, optimizer, lr_multiplier, train = (
    _synthetic.dataloader, _synthetic.optimizer, _synthetic.lr_multiplier, _synthetic.train)

model = L(SemanticSegmentor)(
    backbone=L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels=64, norm="BN"),
        stages=L(ResNet.make_default_stages)(depth=18, norm="BN"),
        out_features=["res2", "res3", "res4", "res5"],  # res3, res4: for SR's exits
        freeze_at=0,
    ),
    sem_seg_head=L(DeepLabV3PlusHead)(
        # ASPP on res5 (stride 32: R-18 has no dilated stages), decoder with res2
        input_shape={"res2": L(ShapeSpec)(channels=64, stride=4), "res5": L(ShapeSpec)(channels=512, stride=32)},
        project_channels=[48],
        aspp_dilations=[6, 12, 18],
        aspp_dropout=0.1,
        decoder_channels=[128, 128],
        common_stride=4,
        norm="BN",
        train_size=None,  # global pooling in ASPP
        num_classes="???",
        ignore_value="???",
    ),
    pixel_mean=PIXEL_MEAN_RGB,
    pixel_std=PIXEL_STD_RGB,
)
model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))
train.output_dir = "output/synthetic/deeplabv3plus_R18"
