"""Self-Regulation on deeplabv3plus_R18_synthetic.py: the same model, data and schedule."""
from sr_d2.modeling import SRSemanticSegmentor

from ....configs.common.models.self_regulation import self_regulation as _self_regulation
from .deeplabv3plus_R18_synthetic import dataloader, lr_multiplier, model, optimizer, train

model._target_ = SRSemanticSegmentor
model.self_regulation = _self_regulation
# SR-F and SR-L off for the first quarter of training, while the teachers learn.
model.self_regulation.warmup_iters = train.max_iter // 4
train.output_dir = "output/synthetic/sr_deeplabv3plus_R18"
