"""What importing sr-d2 and its projects' packages registers with detectron2: the names a yacs
config or LazyConfig reaches them by, and the metadata detectron2's evaluators read."""
import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY, SEM_SEG_HEADS_REGISTRY


def test_importing_sr_d2_registers_its_meta_architectures_and_backbone():
    from sr_d2.modeling import SRPanopticFPN, SRSemanticSegmentor
    from sr_d2.modeling.backbone.stages_fpn import build_resnet_stages_fpn_backbone

    assert META_ARCH_REGISTRY.get("SRSemanticSegmentor") is SRSemanticSegmentor
    assert META_ARCH_REGISTRY.get("SRPanopticFPN") is SRPanopticFPN
    assert BACKBONE_REGISTRY.get("build_resnet_stages_fpn_backbone") is build_resnet_stages_fpn_backbone


def test_the_projects_register_their_models_on_import():
    from sr_ocr import OCRHead
    from sr_panoptic_deeplab import SRPanopticDeepLab

    assert SEM_SEG_HEADS_REGISTRY.get("OCRHead") is OCRHead
    assert META_ARCH_REGISTRY.get("SRPanopticDeepLab") is SRPanopticDeepLab


@pytest.mark.parametrize("name, evaluator_type, num_classes, ignore_label", [
    ("synthetic_sem_seg_train", "sem_seg", 6, 255),
    ("synthetic_sem_seg_val", "sem_seg", 6, 255),
    ("synthetic_weak_sem_seg_train", "sem_seg", 6, 255),
    ("synthetic_panoptic_val", "coco_panoptic_seg", 6, 255),
    ("synthetic_panoptic_val_separated", "coco_panoptic_seg", 4, 255),
    ("camvid_sem_seg_train", "sem_seg", 11, 11),
    ("camvid_sem_seg_val", "sem_seg", 11, 11),
    ("camvid_weak_sem_seg_train", "sem_seg", 11, 11),
])
def test_builtin_datasets_are_registered_with_their_metadata(name, evaluator_type, num_classes, ignore_label):
    import sr_d2  # noqa: F401  registers them (nothing is generated or read until a loader asks)

    assert name in DatasetCatalog.list()
    meta = MetadataCatalog.get(name)
    assert (meta.evaluator_type, len(meta.stuff_classes), meta.ignore_label) == (
        evaluator_type, num_classes, ignore_label)
