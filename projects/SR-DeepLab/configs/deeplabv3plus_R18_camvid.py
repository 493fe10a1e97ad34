"""Baseline: deeplabv3plus_R18_synthetic.py's model on CamVid, sr-d2's CamVid data and schedule."""
from sr_d2.model_zoo import get_config, head_classes

from .deeplabv3plus_R18_synthetic import model

_camvid = get_config("camvid/sem_seg_fpn_R18.py")
dataloader, optimizer, lr_multiplier, train = (
    _camvid.dataloader, _camvid.optimizer, _camvid.lr_multiplier, _camvid.train)

model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))
train.output_dir = "output/camvid/deeplabv3plus_R18"
