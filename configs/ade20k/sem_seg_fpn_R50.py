"""
Recipe: R-50 FPN SemanticSegmentor on ADE20K (160k iterations of batch 16, 512x512 crops, poly
LR 0.01), SyncBN, AMP. Built and stepped by the tests on tiny images; not trained here.
"""
from sr_d2.model_zoo import head_classes

from ..common.data.ade20k import dataloader
from ..common.models.sem_seg_fpn_R50 import model
from ..common.recipe import lr_multiplier, optimizer, train

model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))
train.max_iter = 160000
train.output_dir = "output/ade20k/sem_seg_fpn_R50"
