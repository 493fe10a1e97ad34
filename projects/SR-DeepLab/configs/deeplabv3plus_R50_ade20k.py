"""
Recipe: R-50 DeepLabV3+ on ADE20K (160k iterations of batch 16, 512x512 crops, poly LR 0.01), SyncBN, AMP. Built and stepped by the tests on tiny images;
not trained here.
"""
from sr_d2.model_zoo import get_config, head_classes
from .model_deeplabv3plus_R50 import model

dataloader = get_config("common/data/ade20k.py").dataloader
_recipe = get_config("common/recipe.py")
lr_multiplier, optimizer, train = _recipe.lr_multiplier, _recipe.optimizer, _recipe.train

model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))
train.max_iter = 160000
train.output_dir = "output/ade20k/deeplabv3plus_R50"
