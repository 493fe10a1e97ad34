"""ADE20K (SceneParsing, 150 classes), at the 512-px scale of detectron2-based ADE20K recipes."""
import detectron2.data.transforms as T
from detectron2.config import LazyCall as L

from .sem_seg import dataloader, scale_crop_flip

dataloader.train.dataset.names = "ade20k_sem_seg_train"
dataloader.test.dataset.names = "ade20k_sem_seg_val"
dataloader.train.mapper.image_format = "BGR"  # detectron2's pretrained R-50
dataloader.train.mapper.augmentations = scale_crop_flip(
    [int(512 * x / 10) for x in range(5, 21)], crop_size=(512, 512), max_size=2048
)
dataloader.test.mapper.augmentations = [L(T.ResizeShortestEdge)(short_edge_length=512, max_size=2048)]
dataloader.train.total_batch_size = 16
