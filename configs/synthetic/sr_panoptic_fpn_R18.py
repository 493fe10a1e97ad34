"""Self-Regulation on the baseline panoptic_fpn_R18.py: the same model, data and schedule."""
from sr_d2.modeling import SRPanopticFPN

from ..common.models.self_regulation import self_regulation as _self_regulation
from .panoptic_fpn_R18 import dataloader, lr_multiplier, model, optimizer, train

model._target_ = SRPanopticFPN
model.self_regulation = _self_regulation
train.output_dir = "output/synthetic/sr_panoptic_fpn_R18"
