"""Self-Regulation on ocr_R18_camvid.py: the same model, data and schedule."""
from sr_d2.modeling import SRSemanticSegmentor

from ....configs.common.models.self_regulation import self_regulation as _self_regulation, sr_schedule
from .ocr_R18_camvid import dataloader, lr_multiplier, model, optimizer, train

model._target_ = SRSemanticSegmentor
model.self_regulation = _self_regulation
train.output_dir = "output/camvid/sr_ocr_R18"
