"""
The synthetic scenes for weakly supervised training (the paper's other setting): the same images,
each with true image-level labels and a *pseudo-label* mask degraded the way CAM-based pseudo
labels are (:func:`sr_d2.data.datasets.weak_labels.pseudo_label`).
"""
import json
import os

import numpy as np
from PIL import Image

from detectron2.data import DatasetCatalog

from .sem_seg_folder import load_sem_seg_folder, set_sem_seg_metadata
from .synthetic import IGNORE_LABEL, SYNTHETIC_CLASSES, SYNTHETIC_COLORS, render_scene, write_once
from .weak_labels import pseudo_label

__all__ = ["generate_synthetic_weak", "register_synthetic_weak"]

_FORMAT_VERSION = 1


def synthetic_weak_dir(root: str, num_images: int, height: int, width: int, seed: int) -> str:
    """Folder of one set: ``image/*.png``, ``pseudo/*.png`` and ``image_labels.json``."""
    return os.path.join(root, f"synthetic_weak_v{_FORMAT_VERSION}_n{num_images}_{height}x{width}_seed{seed}")


def generate_synthetic_weak(root: str, num_images: int, height: int, width: int, seed: int) -> str:
    """
    Write the set unless a complete copy is there; return its folder. Image ``i`` is the synthetic
    set's image ``i`` of the same seed; its pseudo label depends on ``(seed, i)`` alone.
    """

    def write(tmp: str) -> None:
        for sub in ("image", "pseudo"):
            os.mkdir(os.path.join(tmp, sub))
        image_labels = {}
        for i in range(num_images):
            image, label = render_scene(np.random.default_rng((seed, i)), height, width)
            stem = f"{i:05d}"
            Image.fromarray(image).save(os.path.join(tmp, "image", stem + ".png"))
            pseudo = pseudo_label(label, np.random.default_rng((seed, i, 1)), len(SYNTHETIC_CLASSES),
                                  IGNORE_LABEL)
            Image.fromarray(pseudo).save(os.path.join(tmp, "pseudo", stem + ".png"))
            image_labels[stem] = [c for c in range(len(SYNTHETIC_CLASSES)) if (label == c).any()]
        with open(os.path.join(tmp, "image_labels.json"), "w") as f:
            json.dump(image_labels, f)

    params = dict(num_images=num_images, height=height, width=width, seed=seed)
    return write_once(synthetic_weak_dir(root, num_images, height, width, seed), write, params)


def register_synthetic_weak(name: str, root: str, *, num_images: int, height: int, width: int, seed: int) -> None:
    """Register dataset ``name``: images, pseudo-label masks and true image labels (field "image_labels")."""
    out = synthetic_weak_dir(root, num_images, height, width, seed)

    def load():
        generate_synthetic_weak(root, num_images, height, width, seed)
        return load_sem_seg_folder(os.path.join(out, "image"), os.path.join(out, "pseudo"),
                                   image_labels_file=os.path.join(out, "image_labels.json"))

    DatasetCatalog.register(name, load)
    set_sem_seg_metadata(name, SYNTHETIC_CLASSES, image_dir=os.path.join(out, "image"),
                         gt_dir=os.path.join(out, "pseudo"), colors=SYNTHETIC_COLORS,
                         ignore_label=IGNORE_LABEL, thin_classes=("pole", "sign"))
