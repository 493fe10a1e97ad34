"""Baseline, weakly supervised: trained on pseudo-label masks (with true image labels), scored on clean masks."""
from .sem_seg_fpn_R18 import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "synthetic_weak_sem_seg_train"
train.output_dir = "output/synthetic/weak_sem_seg_fpn_R18"
