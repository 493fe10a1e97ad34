"""detectron2's SemanticSegmentor, R-50 FPN-256 from ImageNet weights, every norm ``${train.norm}``."""
from sr_d2.model_zoo import PIXEL_MEAN_BGR, PIXEL_STD_BGR, resnet50

from .sem_seg_fpn import model

model.backbone.bottom_up = resnet50(norm="${train.norm}", freeze_at=2)  # stem and res2 frozen
model.backbone.out_channels = 256
model.sem_seg_head.norm = "${train.norm}"
model.pixel_mean = PIXEL_MEAN_BGR
model.pixel_std = PIXEL_STD_BGR
