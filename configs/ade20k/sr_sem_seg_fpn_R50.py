"""Self-Regulation on the baseline sem_seg_fpn_R50.py: the same model, data and schedule."""
from sr_d2.model_zoo import resnet50_shapes
from sr_d2.modeling import SRSemanticSegmentor, StagesFPN

from ..common.models.self_regulation import self_regulation as _self_regulation, sr_schedule
from .sem_seg_fpn_R50 import dataloader, lr_multiplier, model, optimizer, train

model._target_ = SRSemanticSegmentor
model.backbone._target_ = StagesFPN  # the FPN, also returning the ResNet stages the exits read
model.self_regulation = _self_regulation
model.self_regulation.input_shape = resnet50_shapes()
model.self_regulation.exit_head.norm = "${train.norm}"
train.output_dir = "output/ade20k/sr_sem_seg_fpn_R50"
