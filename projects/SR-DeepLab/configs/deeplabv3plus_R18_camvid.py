"""Baseline: deeplabv3plus_R18_synthetic.py's model on CamVid, sr-d2's CamVid data and schedule."""
from ....configs.camvid.sem_seg_fpn_R18 import dataloader, lr_multiplier, optimizer, train
from ....configs.common.data.sem_seg import head_classes
from .deeplabv3plus_R18_synthetic import model

model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))
train.output_dir = "output/camvid/deeplabv3plus_R18"
