"""
CamVid, 11-class version (SegNet's split): ``<root>/{train,val,test}`` and ``<root>/{train,val,test}annot``;
and its weak form: the train images with pseudo-label masks and true image-level labels.
"""
import hashlib
import json
import logging
import os
import zlib

import numpy as np
from PIL import Image

from detectron2.data import DatasetCatalog

from .sem_seg_folder import load_sem_seg_folder, set_sem_seg_metadata
from .synthetic import write_once
from .weak_labels import pseudo_label, pseudo_label_quality

__all__ = ["CAMVID_CLASSES", "CAMVID_THIN_CLASSES", "CAMVID_WEAK", "generate_camvid_weak", "register_camvid",
           "register_camvid_weak"]

logger = logging.getLogger(__name__)

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
# The weak set's degradation (:func:`pseudo_label`): the synthetic weak set's, sized from its
# 128-px-high scenes to CamVid's 360 px (Gaussian of 7.0 px, a class grown by 6-11 px).
CAMVID_WEAK = dict(seed=0, blur=2.5, false_class_rate=0.3, scale=360 / 128)
_WEAK_FORMAT_VERSION = 1


def _check_root(root: str) -> None:
    """FileNotFoundError naming ``$DETECTRON2_DATASETS`` when the CamVid folder ``root`` is missing."""
    if not os.path.isdir(root):
        where = os.environ.get("DETECTRON2_DATASETS", "unset, so ./datasets")
        raise FileNotFoundError(f"CamVid folder {root!r} does not exist: set $DETECTRON2_DATASETS to the folder "
                                f"holding camvid/ ($DETECTRON2_DATASETS is {where}; it is read when sr_d2 is "
                                f"imported)")


def register_camvid(root: str, splits=("train", "val", "test")) -> None:
    """Register ``camvid_sem_seg_<split>`` for each of ``splits``; ``root`` is read on first load."""
    for split in splits:
        image_dir, gt_dir = os.path.join(root, split), os.path.join(root, split + "annot")

        def load(image_dir=image_dir, gt_dir=gt_dir):
            _check_root(root)
            return load_sem_seg_folder(image_dir, gt_dir)

        DatasetCatalog.register(f"camvid_sem_seg_{split}", load)
        set_sem_seg_metadata(f"camvid_sem_seg_{split}", CAMVID_CLASSES, image_dir=image_dir, gt_dir=gt_dir,
                             colors=CAMVID_COLORS, ignore_label=CAMVID_VOID, thin_classes=CAMVID_THIN_CLASSES)


def _labels_fingerprint(gt_dir: str) -> str:
    """A digest of the names and bytes of the PNG label maps in ``gt_dir``."""
    digest = hashlib.sha1()
    for name in sorted(f for f in os.listdir(gt_dir) if f.endswith(".png")):
        digest.update(name.encode())
        with open(os.path.join(gt_dir, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:12]


def camvid_weak_dir(root: str, cache: str, seed: int) -> str:
    """The cache folder of the weak set made from ``root/trainannot``: ``pseudo/*.png``,
    ``image_labels.json``, ``quality.json``; keyed by the labels' content and the seed."""
    _check_root(root)
    fingerprint = _labels_fingerprint(os.path.join(root, "trainannot"))
    return os.path.join(cache, f"camvid_weak_v{_WEAK_FORMAT_VERSION}_seed{seed}_{fingerprint}")


def generate_camvid_weak(root: str, cache: str, seed: int = CAMVID_WEAK["seed"]) -> str:
    """
    Write the weak set of CamVid's train split under ``cache`` unless a complete copy is there;
    return its folder. The pseudo label of image ``stem`` depends on ``(seed, stem)`` alone; the
    image labels are the classes of its true mask; ``quality.json`` scores the pseudo masks against
    the true ones (:func:`pseudo_label_quality`). Nothing is written under ``root``.
    """
    gt_dir = os.path.join(root, "trainannot")
    num_classes = len(CAMVID_CLASSES)
    settings = {k: v for k, v in CAMVID_WEAK.items() if k != "seed"}

    def write(tmp: str) -> None:
        os.mkdir(os.path.join(tmp, "pseudo"))
        image_labels = {}
        confusion = np.zeros((num_classes + 1, num_classes), np.int64)
        for name in sorted(f for f in os.listdir(gt_dir) if f.endswith(".png")):
            stem = name[: -len(".png")]
            label = np.asarray(Image.open(os.path.join(gt_dir, name)))
            if label.ndim != 2:
                raise ValueError(f"CamVid label {os.path.join(gt_dir, name)!r} has shape {label.shape}: "
                                 f"a label map is one class id per pixel")
            rng = np.random.default_rng((seed, zlib.crc32(stem.encode())))
            pseudo = pseudo_label(label, rng, num_classes, CAMVID_VOID, **settings)
            Image.fromarray(pseudo).save(os.path.join(tmp, "pseudo", name))
            image_labels[stem] = [c for c in range(num_classes) if (label == c).any()]
            true = label < num_classes
            rows = np.minimum(pseudo[true], num_classes).astype(np.int64)
            confusion += np.bincount(rows * num_classes + label[true], minlength=confusion.size).reshape(
                confusion.shape)
        with open(os.path.join(tmp, "image_labels.json"), "w") as f:
            json.dump(image_labels, f)
        quality = pseudo_label_quality(confusion)
        with open(os.path.join(tmp, "quality.json"), "w") as f:
            json.dump(quality, f, indent=1)
        logger.info("CamVid weak set (seed %d): pseudo masks against the true ones: mIoU %.1f, pixel "
                    "accuracy %.1f, void %.1f", seed, quality["mIoU"], quality["pixel_accuracy"], quality["void"])

    return write_once(camvid_weak_dir(root, cache, seed), write, dict(CAMVID_WEAK, seed=seed))


def register_camvid_weak(name: str, root: str, cache: str, seed: int = CAMVID_WEAK["seed"]) -> None:
    """Register dataset ``name``: CamVid's train images (read from ``root/train``), pseudo-label
    masks and true image labels (field "image_labels"), made under ``cache`` on first load."""

    def load():
        out = generate_camvid_weak(root, cache, seed)
        return load_sem_seg_folder(os.path.join(root, "train"), os.path.join(out, "pseudo"),
                                   image_labels_file=os.path.join(out, "image_labels.json"))

    DatasetCatalog.register(name, load)
    set_sem_seg_metadata(name, CAMVID_CLASSES, image_dir=os.path.join(root, "train"),
                         gt_dir=cache, colors=CAMVID_COLORS,
                         ignore_label=CAMVID_VOID, thin_classes=CAMVID_THIN_CLASSES)
