"""
Recipe plain-ce (sr_d2.recipes) on sr_weak_sem_seg_fpn_R18.py: weak CamVid (pseudo masks, image
labels), FPN R-18. Measured: docs/studies/camvid_weak3000.md.
"""
from sr_d2.recipes import apply_recipe

from .sr_weak_sem_seg_fpn_R18 import dataloader, lr_multiplier, model, optimizer, sr_schedule, train

apply_recipe("plain-ce", model=model, sr_schedule=sr_schedule)
train.output_dir = "output/camvid/plain_ce_weak_sem_seg_fpn_R18"
