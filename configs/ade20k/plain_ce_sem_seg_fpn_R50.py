"""
Recipe plain-ce (sr_d2.recipes) on sr_sem_seg_fpn_R50.py: ADE20K, FPN R-50. Not measured at this
scale: chosen on CamVid with an R-18.
"""
from sr_d2.recipes import apply_recipe

from .sr_sem_seg_fpn_R50 import dataloader, lr_multiplier, model, optimizer, sr_schedule, train

apply_recipe("plain-ce", model=model, sr_schedule=sr_schedule)
train.output_dir = "output/ade20k/plain_ce_sem_seg_fpn_R50"
