"""Self-Regulation on ocr_R18_synthetic.py: the same model, data and schedule."""
from sr_d2.model_zoo import get_config
from sr_d2.modeling import SRSemanticSegmentor

from .ocr_R18_synthetic import dataloader, lr_multiplier, model, optimizer, train

_sr = get_config("common/models/self_regulation.py")
sr_schedule = _sr.sr_schedule

model._target_ = SRSemanticSegmentor
model.self_regulation = _sr.self_regulation
train.output_dir = "output/synthetic/sr_ocr_R18"
