"""Self-Regulation on the baseline sem_seg_fpn_R18.py: the same model, data and schedule."""
from sr_d2.modeling import SRSemanticSegmentor

from ..common.models.self_regulation import self_regulation as _self_regulation
from .sem_seg_fpn_R18 import dataloader, lr_multiplier, model, optimizer, train

model._target_ = SRSemanticSegmentor
model.self_regulation = _self_regulation
# SR-F and SR-L off for the first quarter of training, while the teachers learn (README).
model.self_regulation.warmup_iters = train.max_iter // 4
train.output_dir = "output/camvid/sr_sem_seg_fpn_R18"
