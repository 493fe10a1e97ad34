"""
Recipe: R-50 DeepLabV3+ on Cityscapes with detectron2's Cityscapes DeepLab schedule (90k iterations of batch 16, 512x1024 crops, poly LR 0.01), SyncBN, AMP. Built and stepped by the tests on tiny images;
not trained here.
"""
from ....configs.common.data.cityscapes import dataloader
from ....configs.common.data.sem_seg import head_classes
from ....configs.common.recipe import lr_multiplier, optimizer, train
from .model_deeplabv3plus_R50 import model

model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))
train.max_iter = 90000
train.output_dir = "output/cityscapes/deeplabv3plus_R50"
