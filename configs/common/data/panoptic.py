"""Loaders and evaluators (instances, semantic, panoptic) for a "<name>_separated" panoptic dataset."""
from omegaconf import OmegaConf

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.data import (
    DatasetMapper,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.evaluation import COCOEvaluator, COCOPanopticEvaluator, DatasetEvaluators

from sr_d2.evaluation import DEFAULT_AREA_THRESHOLDS, DEFAULT_BOUNDARY_TOLERANCE, SRSemSegEvaluator

dataloader = OmegaConf.create()

dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names="???", filter_empty=False),
    mapper=L(DatasetMapper)(
        is_train=True,
        augmentations=[L(T.RandomFlip)(horizontal=True)],
        image_format="RGB",
        use_instance_mask=True,
        instance_mask_format="bitmask",  # reads polygons and RLE alike
    ),
    total_batch_size=4,
    num_workers=2,
)

dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="???", filter_empty=False),
    mapper=L(DatasetMapper)(is_train=False, augmentations=[], image_format="${...train.mapper.image_format}"),
    num_workers=2,
)

dataloader.evaluator = L(DatasetEvaluators)(
    evaluators=[
        # pycocotools' COCOeval: detectron2's fast one needs its C++ extension
        L(COCOEvaluator)(dataset_name="${....test.dataset.names}", use_fast_impl=False),
        # detectron2's SemSegEvaluator on the semantic output, plus the failure metrics
        L(SRSemSegEvaluator)(dataset_name="${....test.dataset.names}", area_thresholds=DEFAULT_AREA_THRESHOLDS,
                             boundary_tolerance=DEFAULT_BOUNDARY_TOLERANCE),
        L(COCOPanopticEvaluator)(dataset_name="${....test.dataset.names}"),
    ]
)
