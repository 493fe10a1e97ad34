"""
Recipe: R-50 FPN SemanticSegmentor on Cityscapes with detectron2's Cityscapes DeepLab schedule
(90k iterations of batch 16, 512x1024 crops, poly LR 0.01), SyncBN, AMP. Built and stepped by
the tests on tiny images; not trained here.
"""
from sr_d2.model_zoo import head_classes

from ..common.data.cityscapes import dataloader
from ..common.models.sem_seg_fpn_R50 import model
from ..common.recipe import lr_multiplier, optimizer, train

model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))
train.max_iter = 90000
train.output_dir = "output/cityscapes/sem_seg_fpn_R50"
