"""
Recipe: R-50 DeepLabV3+ on Cityscapes with detectron2's Cityscapes DeepLab schedule (90k iterations of batch 16, 512x1024 crops, poly LR 0.01), SyncBN, AMP. Built and stepped by the tests on tiny images;
not trained here.
"""
from sr_d2.model_zoo import get_config, head_classes
from .model_deeplabv3plus_R50 import model

dataloader = get_config("common/data/cityscapes.py").dataloader
_recipe = get_config("common/recipe.py")
lr_multiplier, optimizer, train = _recipe.lr_multiplier, _recipe.optimizer, _recipe.train

model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))
train.max_iter = 90000
train.output_dir = "output/cityscapes/deeplabv3plus_R50"
