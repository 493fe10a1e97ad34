"""
Pseudo-label masks degraded the way CAM-based pseudo labels are (the paper's weakly supervised
setting), for any clean label map: blobby (the one-hot map blurred, uncertain pixels void), thin
parts lost, boundaries off (a class grown over its neighbours) and now and then a class that is not
in the image. Used by the synthetic and the CamVid weak sets.
"""
from typing import Dict

import cv2
import numpy as np

__all__ = ["pseudo_label", "pseudo_label_quality"]


def pseudo_label(label: np.ndarray, rng: np.random.Generator, num_classes: int, ignore_label: int,
                 blur: float = 2.5, false_class_rate: float = 0.3, scale: float = 1.0) -> np.ndarray:
    """
    (H, W) uint8 clean label map (``ignore_label`` void) -> a degraded (H, W) uint8 pseudo label:
    the one-hot map blurred by a Gaussian of ``blur * scale`` px (pixels where no class reaches half
    the mass become void), one present class grown by 2-4 px times ``scale``, and with probability
    ``false_class_rate`` an ellipse (1/16-1/6 of the image's sides) of a class the image does not
    have. ``scale`` sizes the degradation to the image: 1 for the 128-px-high synthetic scenes.
    """
    h, w = label.shape
    present = [c for c in range(num_classes) if (label == c).any()]
    probs = np.stack([cv2.GaussianBlur((label == c).astype(np.float32), (0, 0), blur * scale)
                      for c in range(num_classes)])
    pseudo = probs.argmax(0).astype(np.uint8)
    pseudo[probs.max(0) < 0.5] = ignore_label
    if present:
        grown = int(rng.choice(present))
        radius = int(round(int(rng.integers(2, 5)) * scale))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        pseudo[cv2.dilate((pseudo == grown).astype(np.uint8), kernel) > 0] = grown
    absent = [c for c in range(num_classes) if c not in present]
    if absent and rng.random() < false_class_rate:
        center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(w // 16, w // 6)), int(rng.integers(h // 16, h // 6)))
        cv2.ellipse(pseudo, center, axes, 0, 0, 360, int(rng.choice(absent)), -1)
    return pseudo


def pseudo_label_quality(confusion: np.ndarray) -> Dict:
    """
    Scores of pseudo labels against the true ones from their (C + 1, C) confusion (rows: the
    pseudo class, void last; columns: the true class, true void left out), in percent: "mIoU"
    (a void pseudo pixel counts as a miss of its true class), "pixel_accuracy" on the pixels
    the pseudo labels keep, "void" (the share of truly labelled pixels they leave void) and "IoU"
    (each class's, the C values; NaN for a class in neither).
    """
    confusion = confusion.astype(np.float64)
    hits = np.diag(confusion[:-1])
    union = confusion.sum(0) + confusion[:-1].sum(1) - hits
    present = union > 0
    kept = confusion[:-1].sum()
    iou = np.full(len(hits), np.nan)
    iou[present] = hits[present] / union[present]
    return {
        "mIoU": 100 * float((hits[present] / union[present]).mean()),
        "pixel_accuracy": 100 * float(hits.sum() / max(kept, 1)),
        "void": 100 * float(confusion[-1].sum() / max(confusion.sum(), 1)),
        "IoU": [100 * float(v) for v in iou],
    }
