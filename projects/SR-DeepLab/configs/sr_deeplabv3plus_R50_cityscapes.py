"""Self-Regulation on deeplabv3plus_R50_cityscapes.py: the same model, data and schedule."""
from sr_d2.modeling import SRSemanticSegmentor

from ....configs.common.models.resnet50 import resnet50_shapes
from ....configs.common.models.self_regulation import self_regulation as _self_regulation, sr_schedule
from .deeplabv3plus_R50_cityscapes import dataloader, lr_multiplier, model, optimizer, train

model._target_ = SRSemanticSegmentor
model.self_regulation = _self_regulation
model.self_regulation.input_shape = resnet50_shapes(res5_dilation=2)
model.self_regulation.exit_head.norm = "${train.norm}"
train.output_dir = "output/cityscapes/sr_deeplabv3plus_R50"
