"""
Recipe sr-f-res3 (sr_d2.recipes) on sr_sem_seg_fpn_R50.py: Cityscapes, FPN R-50. Not measured at
this scale: chosen on CamVid with an R-18.
"""
from sr_d2.recipes import apply_recipe

from .sr_sem_seg_fpn_R50 import dataloader, lr_multiplier, model, optimizer, sr_schedule, train

apply_recipe("sr-f-res3", model=model, sr_schedule=sr_schedule)
train.output_dir = "output/cityscapes/sr_f_res3_sem_seg_fpn_R50"
