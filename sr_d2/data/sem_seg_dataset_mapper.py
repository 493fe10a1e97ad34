import torch
from PIL import Image

from detectron2.config import configurable
from detectron2.data import DatasetMapper

__all__ = ["SemSegDatasetMapper"]


class SemSegDatasetMapper(DatasetMapper):
    """
    detectron2's ``DatasetMapper`` that also checks each label map: same size as its image, and
    every value a class id in ``[0, num_classes)`` or ``ignore_label``. A bad file fails with its
    name, instead of a CUDA assert or a silently wrong loss later.
    """

    @configurable
    def __init__(self, is_train: bool = True, *, num_classes: int, ignore_label: int, **kwargs):
        """
        Args:
            num_classes, ignore_label: the label ids the model is trained with.
            kwargs: arguments of ``DatasetMapper`` (``augmentations``, ``image_format``, ...).
        """
        super().__init__(is_train, **kwargs)
        self.num_classes = num_classes
        self.ignore_label = ignore_label

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        ret = super().from_config(cfg, is_train)
        ret["num_classes"] = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
        ret["ignore_label"] = cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE
        return ret

    def __call__(self, dataset_dict):
        label_file = dataset_dict.get("sem_seg_file_name")
        if label_file is not None:
            with Image.open(dataset_dict["file_name"]) as image, Image.open(label_file) as label:
                if image.size != label.size:
                    raise ValueError(
                        f"label {label_file!r} is {label.size[0]}x{label.size[1]} (W x H), "
                        f"its image {dataset_dict['file_name']!r} is {image.size[0]}x{image.size[1]}"
                    )
        mapped = super().__call__(dataset_dict)
        if "sem_seg" in mapped:
            self.check_label_values(mapped["sem_seg"], label_file)
        return mapped

    def check_label_values(self, sem_seg: torch.Tensor, label_file: str) -> None:
        """``sem_seg``: (H, W) int64 label map read from ``label_file``."""
        bad = sem_seg[((sem_seg < 0) | (sem_seg >= self.num_classes)) & (sem_seg != self.ignore_label)]
        if bad.numel():
            raise ValueError(
                f"label {label_file!r} has values {bad.unique().tolist()}, outside the "
                f"{self.num_classes} class ids and not the ignore label {self.ignore_label}"
            )
