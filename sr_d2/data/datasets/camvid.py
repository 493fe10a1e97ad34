"""CamVid, 11-class version (SegNet's split): ``<root>/{train,val}`` and ``<root>/{train,val}annot``."""
import os

from .sem_seg_folder import register_sem_seg_folder

__all__ = ["CAMVID_CLASSES", "CAMVID_THIN_CLASSES", "register_camvid"]

CAMVID_CLASSES = (
    "Sky", "Building", "Pole", "Road", "Sidewalk", "Tree",
    "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
)  # fmt: skip
CAMVID_COLORS = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (0, 0, 192), (128, 128, 0),
    (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
)  # fmt: skip
CAMVID_VOID = 11
CAMVID_THIN_CLASSES = ("Pole", "SignSymbol", "Fence", "Pedestrian", "Bicyclist")


def register_camvid(root: str, splits=("train", "val")) -> None:
    """Register ``camvid_sem_seg_<split>`` for each of ``splits``; ``root`` is read on first load."""
    for split in splits:
        register_sem_seg_folder(
            f"camvid_sem_seg_{split}",
            os.path.join(root, split),
            os.path.join(root, split + "annot"),
            CAMVID_CLASSES,
            colors=CAMVID_COLORS,
            ignore_label=CAMVID_VOID,
            thin_classes=CAMVID_THIN_CLASSES,
        )
