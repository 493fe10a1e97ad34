"""
Recipe: R-50 DeepLabV3+ on ADE20K (160k iterations of batch 16, 512x512 crops, poly LR 0.01), SyncBN, AMP. Built and stepped by the tests on tiny images;
not trained here.
"""
from ....configs.common.data.ade20k import dataloader
from ....configs.common.data.sem_seg import head_classes
from ....configs.common.recipe import lr_multiplier, optimizer, train
from .model_deeplabv3plus_R50 import model

model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))
train.max_iter = 160000
train.output_dir = "output/ade20k/deeplabv3plus_R50"
