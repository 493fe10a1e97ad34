"""Baseline, weakly supervised: CamVid's train images with pseudo-label masks (and true image labels),
scored on the clean val masks."""
from .sem_seg_fpn_R18 import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "camvid_weak_sem_seg_train"
train.output_dir = "output/camvid/weak_sem_seg_fpn_R18"
