"""Baseline: SemanticSegmentor with the OCR head on ResNet-18 stages, sr-d2's synthetic set."""
from detectron2.config import LazyCall as L
from detectron2.modeling import ResNet, SemanticSegmentor
from detectron2.modeling.backbone.resnet import BasicStem
from sr_d2.model_zoo import PIXEL_MEAN_RGB, PIXEL_STD_RGB, get_config, head_classes
from sr_ocr import OCRHead

# sr-d2's synthetic data, optimizer and schedule (its FPN model is replaced below)
_synthetic = get_config("synthetic/sem_seg_fpn_R18.py")
dataloader, optimizer, lr_multiplier, train = (
    _synthetic.dataloader, _synthetic.optimizer, _synthetic.lr_multiplier, _synthetic.train)
_exits = get_config("common/models/self_regulation.py").self_regulation

model = L(SemanticSegmentor)(
    backbone=L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels=64, norm="BN"),
        stages=L(ResNet.make_default_stages)(depth=18, norm="BN"),
        out_features=["res2", "res3", "res4", "res5"],
        freeze_at=0,
    ),
    # OCR on the four stages fused at stride 4 (as on HRNet's branches), 128 channels for CPU
    sem_seg_head=L(OCRHead)(input_shape=_exits.input_shape, channels=128, key_channels=64, norm="BN",
                            num_classes="???", ignore_value="???"),
    pixel_mean=PIXEL_MEAN_RGB,
    pixel_std=PIXEL_STD_RGB,
)
model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))
train.output_dir = "output/synthetic/ocr_R18"
