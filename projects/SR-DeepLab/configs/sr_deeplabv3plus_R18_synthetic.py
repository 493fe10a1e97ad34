"""Self-Regulation on deeplabv3plus_R18_synthetic.py: the same model, data and schedule."""
from sr_d2.modeling import SRSemanticSegmentor

from ....configs.common.models.self_regulation import self_regulation as _self_regulation, sr_schedule
from .deeplabv3plus_R18_synthetic import dataloader, lr_multiplier, model, optimizer, train

model._target_ = SRSemanticSegmentor
model.self_regulation = _self_regulation
train.output_dir = "output/synthetic/sr_deeplabv3plus_R18"
