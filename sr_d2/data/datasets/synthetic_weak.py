"""
The synthetic scenes for weakly supervised training (the paper's other setting): the same images,
each with true image-level labels and a *pseudo-label* mask degraded the way CAM-based pseudo
labels are: blobby (the one-hot mask blurred, uncertain pixels void), thin parts lost, boundaries
off (a class grown over its neighbours) and now and then a class that is not in the image.
"""
import json
import os

import cv2
import numpy as np
from PIL import Image

from detectron2.data import DatasetCatalog

from .sem_seg_folder import load_sem_seg_folder, set_sem_seg_metadata
from .synthetic import IGNORE_LABEL, SYNTHETIC_CLASSES, SYNTHETIC_COLORS, render_scene, write_once

__all__ = ["generate_synthetic_weak", "pseudo_label", "register_synthetic_weak"]

_FORMAT_VERSION = 1


def pseudo_label(label: np.ndarray, rng: np.random.Generator, num_classes: int = len(SYNTHETIC_CLASSES),
                 blur: float = 2.5, false_class_rate: float = 0.3) -> np.ndarray:
    """
    (H, W) uint8 clean label map (``IGNORE_LABEL`` void) -> a degraded (H, W) uint8 pseudo label:
    the one-hot map blurred by a Gaussian of ``blur`` px (pixels where no class reaches half the
    mass become void), one present class grown by 2-4 px, and with probability
    ``false_class_rate`` an ellipse of a class the image does not have.
    """
    h, w = label.shape
    present = [c for c in range(num_classes) if (label == c).any()]
    probs = np.stack([cv2.GaussianBlur((label == c).astype(np.float32), (0, 0), blur)
                      for c in range(num_classes)])
    pseudo = probs.argmax(0).astype(np.uint8)
    pseudo[probs.max(0) < 0.5] = IGNORE_LABEL
    grown = int(rng.choice(present))
    radius = int(rng.integers(2, 5))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    pseudo[cv2.dilate((pseudo == grown).astype(np.uint8), kernel) > 0] = grown
    absent = [c for c in range(num_classes) if c not in present]
    if absent and rng.random() < false_class_rate:
        center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(w // 16, w // 6)), int(rng.integers(h // 16, h // 6)))
        cv2.ellipse(pseudo, center, axes, 0, 0, 360, int(rng.choice(absent)), -1)
    return pseudo


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
            pseudo = pseudo_label(label, np.random.default_rng((seed, i, 1)))
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
