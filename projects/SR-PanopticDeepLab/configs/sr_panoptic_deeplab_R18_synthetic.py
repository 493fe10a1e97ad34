"""Self-Regulation on panoptic_deeplab_R18_synthetic.py: the same model, data and schedule."""
from detectron2.data import MetadataCatalog
from sr_d2.model_zoo import get_config
from sr_panoptic_deeplab import SRPanopticDeepLab

from .panoptic_deeplab_R18_synthetic import dataloader, lr_multiplier, model, optimizer, train

_sr = get_config("common/models/self_regulation.py")
sr_schedule = _sr.sr_schedule

model._target_ = SRPanopticDeepLab
model.self_regulation = _sr.self_regulation
# PanopticDeepLab keeps its classes in the yacs config (the yaml): SR's are the dataset's, all
# things and stuff (checked against the semantic head when the model is built)
model.self_regulation.num_classes = len(MetadataCatalog.get(dataloader.train.dataset.names).stuff_classes)
model.self_regulation.ignore_value = dataloader.train.mapper.panoptic_target_generator.ignore_label
train.output_dir = "output/synthetic/sr_panoptic_deeplab_R18"
