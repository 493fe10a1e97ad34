"""Self-Regulation on the baseline weak_sem_seg_fpn_R18.py: the same model, data and schedule."""
from sr_d2.modeling import SRSemanticSegmentor, StagesFPN

from ..common.models.self_regulation import self_regulation as _self_regulation, sr_schedule
from .weak_sem_seg_fpn_R18 import dataloader, lr_multiplier, model, optimizer, train

model._target_ = SRSemanticSegmentor
model.backbone._target_ = StagesFPN  # the FPN, also returning the ResNet stages the exits read
model.self_regulation = _self_regulation
train.output_dir = "output/camvid/sr_weak_sem_seg_fpn_R18"
