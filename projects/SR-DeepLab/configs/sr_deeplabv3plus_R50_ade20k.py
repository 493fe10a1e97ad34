"""Self-Regulation on deeplabv3plus_R50_ade20k.py: the same model, data and schedule."""
from sr_d2.model_zoo import get_config, resnet50_shapes
from sr_d2.modeling import SRSemanticSegmentor

from .deeplabv3plus_R50_ade20k import dataloader, lr_multiplier, model, optimizer, train

_sr = get_config("common/models/self_regulation.py")
sr_schedule = _sr.sr_schedule

model._target_ = SRSemanticSegmentor
model.self_regulation = _sr.self_regulation
model.self_regulation.input_shape = resnet50_shapes(res5_dilation=2)
model.self_regulation.exit_head.norm = "${train.norm}"
train.output_dir = "output/ade20k/sr_deeplabv3plus_R50"
