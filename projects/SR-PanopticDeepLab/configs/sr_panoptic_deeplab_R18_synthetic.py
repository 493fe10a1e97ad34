"""Self-Regulation on panoptic_deeplab_R18_synthetic.py: the same model, data and schedule."""
from detectron2.data import MetadataCatalog
from sr_panoptic_deeplab import SRPanopticDeepLab

from ....configs.common.models.self_regulation import self_regulation as _self_regulation, sr_schedule
from .panoptic_deeplab_R18_synthetic import dataloader, lr_multiplier, model, optimizer, train

model._target_ = SRPanopticDeepLab
model.self_regulation = _self_regulation
# PanopticDeepLab keeps its classes in the yacs config (the yaml): SR's are the dataset's, all
# things and stuff (checked against the semantic head when the model is built)
model.self_regulation.num_classes = len(MetadataCatalog.get(dataloader.train.dataset.names).stuff_classes)
model.self_regulation.ignore_value = dataloader.train.mapper.panoptic_target_generator.ignore_label
train.output_dir = "output/synthetic/sr_panoptic_deeplab_R18"
