"""Train/test loaders and SemSegEvaluator for any registered semantic-segmentation dataset."""
import sys

from omegaconf import OmegaConf

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.data import (
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from sr_d2.data import SemSegDatasetMapper
from sr_d2.evaluation import DEFAULT_AREA_THRESHOLDS, DEFAULT_BOUNDARY_TOLERANCE, SRSemSegEvaluator

dataloader = OmegaConf.create()

dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names="???"),
    mapper=L(SemSegDatasetMapper)(
        is_train=True,
        augmentations=[L(T.RandomFlip)(horizontal=True)],
        image_format="RGB",
        num_classes="${model.sem_seg_head.num_classes}",
        ignore_label="${model.sem_seg_head.ignore_value}",
    ),
    total_batch_size=8,
    num_workers=2,
)

dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="???", filter_empty=False),
    mapper=L(SemSegDatasetMapper)(
        is_train=False,
        augmentations=[],
        image_format="${...train.mapper.image_format}",
        num_classes="${model.sem_seg_head.num_classes}",
        ignore_label="${model.sem_seg_head.ignore_value}",
    ),
    num_workers=2,
)

# detectron2's SemSegEvaluator, plus segment recall by size, boundary F and part-mislabel rate.
dataloader.evaluator = L(SRSemSegEvaluator)(
    dataset_name="${..test.dataset.names}",
    area_thresholds=DEFAULT_AREA_THRESHOLDS,
    boundary_tolerance=DEFAULT_BOUNDARY_TOLERANCE,
)


def scale_crop_flip(short_edge_length, crop_size, max_size: int = sys.maxsize) -> list:
    """Training augmentations: resize to a random short edge, a (H, W) crop, a horizontal flip."""
    return [
        L(T.ResizeShortestEdge)(short_edge_length=short_edge_length, max_size=max_size, sample_style="choice"),
        L(T.RandomCrop_CategoryAreaConstraint)(
            crop_type="absolute", crop_size=crop_size, single_category_max_area=1.0,
            ignored_category="${model.sem_seg_head.ignore_value}",
        ),
        L(T.RandomFlip)(horizontal=True),
    ]
