import copy
import logging
from typing import Sequence

import numpy as np
import torch
from PIL import Image

import detectron2.data.transforms as T
from detectron2.config import configurable
from detectron2.data import DatasetMapper
from detectron2.data import detection_utils as utils

__all__ = ["SemSegDatasetMapper", "check_pair_headers", "read_image", "read_label_map"]

logger = logging.getLogger(__name__)


def read_label_map(path: str) -> np.ndarray:
    """
    (H, W) int64 class ids of the label map ``path``: the pixel values of an 8/16-bit grayscale
    image, the palette *indices* of a palette image (PASCAL VOC's format), as detectron2's
    ``SemSegEvaluator`` reads them. A colour image is refused: its colours are not class ids.
    """
    try:
        label = Image.open(path)
        label.load()
    except (OSError, SyntaxError) as e:
        raise ValueError(f"label {path!r} cannot be read: {e}") from e
    with label:
        if label.mode not in _LABEL_MODES:
            raise ValueError(f"label {path!r} is a {label.mode} image: a label map holds one class id "
                             f"per pixel (8-bit grayscale or palette PNG)")
        return np.asarray(label, dtype=np.int64)


_LABEL_MODES = ("L", "P", "I", "I;16")
# Image modes of more than 8 bits a channel: detectron2 converts them to 8-bit RGB by clipping at 255.
_DEEP_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def _deep_image_problem(image: Image.Image, path: str) -> str:
    return (f"image {path!r} is a {image.mode} image (more than 8 bits a pixel): detectron2 reads it as "
            f"8-bit RGB, every value above 255 white; convert it to 8-bit (scaled to 0-255) first")


def read_image(path: str, format: str) -> np.ndarray:
    """
    detectron2's ``read_image`` (EXIF orientation applied, ``format`` e.g. "BGR") of an 8-bit
    image; ValueError naming ``path`` when it cannot be read or has more bits a pixel (16-bit
    grayscale), which detectron2 would clip to white.
    """
    try:
        with Image.open(path) as image:
            if image.mode in _DEEP_MODES:
                raise ValueError(_deep_image_problem(image, path))
        return utils.read_image(path, format=format)
    except (OSError, SyntaxError) as e:  # missing, truncated or not an image
        raise ValueError(f"image {path!r} cannot be read: {e}") from e
_SWAPS_SIDES = (5, 6, 7, 8)  # EXIF orientations that turn the image by 90 degrees


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation of an opened image, without decoding it (a PNG's getexif would: its
    eXIf chunk may follow the pixels, so only one ahead of them is read)."""
    if image.format == "PNG":
        exif = Image.Exif()
        if "exif" in image.info:
            exif.load(image.info["exif"])
        return exif.get(0x0112, 1)
    return image.getexif().get(0x0112, 1)


def check_pair_headers(dicts: Sequence[dict], name: str) -> None:
    """
    Check every image / label map pair of dataset ``name`` from the file headers alone (no pixel
    is decoded): both open, the image has 8 bits a channel, the label map holds class ids (its
    mode), and both have one size (EXIF orientation applied). ValueError listing the bad pairs, so
    a bad file is found before training and not when the loader first samples it. Images with an
    EXIF orientation are named in a warning: they are loaded turned, their labels must match that.
    """
    problems, turned = [], []
    for d in dicts:
        label_file = d.get("sem_seg_file_name")
        if label_file is None:
            continue
        try:
            with Image.open(d["file_name"]) as image, Image.open(label_file) as label:
                width, height = image.size
                orientation = _orientation(image)
                if orientation != 1:
                    turned.append(d["file_name"])
                if orientation in _SWAPS_SIDES:
                    width, height = height, width
                if image.mode in _DEEP_MODES:
                    problems.append(_deep_image_problem(image, d["file_name"]))
                elif label.mode not in _LABEL_MODES:
                    problems.append(f"label {label_file!r} is a {label.mode} image, not class ids")
                elif label.size != (width, height):
                    problems.append(f"label {label_file!r} is {label.size[0]}x{label.size[1]} (W x H), its image "
                                    f"is {width}x{height} as loaded")
        except (OSError, SyntaxError) as e:
            problems.append(f"{d['file_name']!r} / {label_file!r} cannot be opened: {e}")
    if turned:
        logger.warning("dataset %r: %d images carry an EXIF orientation (%s): they are turned (or mirrored) as "
                       "it says when loaded, as detectron2 and cameras' viewers show them; their label maps "
                       "must be drawn on the turned image", name, len(turned),
                       ", ".join(turned[:3]) + (" ..." if len(turned) > 3 else ""))
    if problems:
        raise ValueError(f"dataset {name!r}: {len(problems)} of {len(dicts)} image / label pairs are bad: "
                         + "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""))


def _transformable(sem_seg: np.ndarray) -> np.ndarray:
    """
    (H, W) class ids in a dtype detectron2's transforms resize and rotate: uint8 (PIL, as
    detectron2's own mapper gives them) when they fit, else float32 (exact for ids below 2**24;
    torch's interpolate and OpenCV take no int64).
    """
    if sem_seg.size == 0 or (sem_seg.min() >= 0 and sem_seg.max() <= 255):
        return sem_seg.astype(np.uint8)
    return sem_seg.astype(np.float32)


class SemSegDatasetMapper(DatasetMapper):
    """
    detectron2's ``DatasetMapper`` for semantic segmentation ("image" and "sem_seg" of each dict)
    that reads label maps as class ids with :func:`read_label_map` (detectron2's mapper reads a
    palette image's brightness instead of its indices) and checks each: the size of its image
    (after the image's EXIF orientation, as it is loaded), and every value a class id in
    ``[0, num_classes)`` or ``ignore_label``. A bad file fails with its name, instead of a CUDA
    assert or a silently wrong loss later.
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
        dataset_dict = copy.deepcopy(dataset_dict)
        image = read_image(dataset_dict["file_name"], format=self.image_format)
        utils.check_image_size(dataset_dict, image)
        label_file = dataset_dict.pop("sem_seg_file_name", None)
        sem_seg = None
        if label_file is not None:
            sem_seg = read_label_map(label_file)
            if sem_seg.shape != image.shape[:2]:
                raise ValueError(
                    f"label {label_file!r} is {sem_seg.shape[1]}x{sem_seg.shape[0]} (W x H), its image "
                    f"{dataset_dict['file_name']!r} is {image.shape[1]}x{image.shape[0]} as loaded "
                    f"(EXIF orientation applied)"
                )
            self.check_label_values(sem_seg, label_file)
            sem_seg = _transformable(sem_seg)
        aug_input = T.AugInput(image, sem_seg=sem_seg)
        self.augmentations(aug_input)
        # copied (np.array copies): a flip of a side of 1 px keeps a negative stride that numpy still
        # calls contiguous, which torch refuses
        dataset_dict["image"] = torch.as_tensor(np.array(aug_input.image.transpose(2, 0, 1), order="C"))
        if aug_input.sem_seg is not None:
            dataset_dict["sem_seg"] = torch.as_tensor(np.array(aug_input.sem_seg, dtype=np.int64, order="C"))
        return dataset_dict

    def check_label_values(self, sem_seg: np.ndarray, label_file: str) -> None:
        """``sem_seg``: (H, W) int64 label map read from ``label_file``."""
        bad = sem_seg[((sem_seg < 0) | (sem_seg >= self.num_classes)) & (sem_seg != self.ignore_label)]
        if bad.size:
            raise ValueError(
                f"label {label_file!r} has values {np.unique(bad).tolist()}, outside the "
                f"{self.num_classes} class ids and not the ignore label {self.ignore_label}"
            )
