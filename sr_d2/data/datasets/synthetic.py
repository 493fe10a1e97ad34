"""
A deterministic synthetic street-like scene set, generated on first use, with both failures that
SR targets built in:

- thin and small things: 1-3 px wide poles, signs of a few dozen pixels, 2 px limbs on figures;
- large objects whose parts look like another class: a figure's body has the colour of the walls
  (only the wall's brick lines and the figure's shape tell them apart), and signs share the
  poles' colour (only their shape tells them apart);
- void: a 1 px band around each figure and occasional unlabelled clutter patches.
"""
import json
import os
import shutil
import tempfile
from typing import Callable, Tuple

import cv2
import numpy as np
from detectron2.data import DatasetCatalog
from PIL import Image

from .sem_seg_folder import load_sem_seg_folder, set_sem_seg_metadata

__all__ = ["SYNTHETIC_CLASSES", "generate_synthetic", "register_synthetic", "render_scene"]

SYNTHETIC_CLASSES = ("sky", "ground", "wall", "figure", "pole", "sign")
SYNTHETIC_COLORS = (
    (70, 130, 180), (152, 251, 152), (102, 102, 156), (220, 20, 60), (153, 153, 153), (250, 170, 30),
)  # fmt: skip
IGNORE_LABEL = 255
SKY, GROUND, WALL, FIGURE, POLE, SIGN = range(len(SYNTHETIC_CLASSES))
_BASE_RGB = {
    SKY: (120, 170, 225),
    GROUND: (105, 100, 75),
    WALL: (155, 85, 70),
    FIGURE: (160, 90, 72),
    POLE: (215, 195, 70),
    SIGN: (215, 195, 70),
}
_FORMAT_VERSION = 1


def _draw_figure(label: np.ndarray, rng: np.random.Generator, horizon: int) -> None:
    h, w = label.shape
    cx = int(rng.integers(w // 8, w - w // 8))
    ax, ay = int(rng.integers(w // 22, w // 14) + 2), int(rng.integers(h // 10, h // 7) + 2)
    cy = int(min(h - ay - 2, horizon + rng.integers(0, h // 6)))
    cv2.ellipse(label, (cx, cy), (ax, ay), 0, 0, 360, FIGURE, -1)
    cv2.circle(label, (cx, cy - ay - ax // 2), max(2, int(ax * 0.7)), FIGURE, -1)
    for side in (-1, 1):  # arms from the shoulders, legs from the hips, 2 px wide
        arm_end = (cx + side * int(rng.integers(2 * ax, 3 * ax)), cy - int(rng.integers(-ay // 2, ay)))
        cv2.line(label, (cx + side * ax // 2, cy - ay // 2), arm_end, FIGURE, 2)
        leg_end = (cx + side * int(rng.integers(ax // 2, 2 * ax)), cy + ay + int(rng.integers(ay // 2, ay)))
        cv2.line(label, (cx + side * ax // 3, cy + ay // 2), leg_end, FIGURE, 2)


def render_scene(rng: np.random.Generator, height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """
    Draw one scene from ``rng``.

    Returns:
        image: (H, W, 3) uint8 RGB.
        label: (H, W) uint8 class ids, ``IGNORE_LABEL`` for void.
    """
    h, w = height, width
    label = np.full((h, w), GROUND, np.uint8)
    horizon = int(rng.integers(h * 3 // 10, h * 11 // 20))
    label[:horizon] = SKY
    for _ in range(rng.integers(1, 4)):
        x0 = int(rng.integers(0, w - w // 8))
        top = int(rng.integers(h // 10, max(h // 10 + 1, horizon - 4)))
        bottom = int(horizon + rng.integers(0, h // 5))
        cv2.rectangle(label, (x0, top), (x0 + int(rng.integers(w // 7, w * 2 // 5)), bottom), WALL, -1)
    figures = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(1, 3)):
        _draw_figure(figures, rng, horizon)
    label[figures == FIGURE] = FIGURE
    for _ in range(rng.integers(1, 4)):
        x = int(rng.integers(2, w - 3))
        top, bottom = int(rng.integers(h // 10, h * 2 // 5)), int(horizon + rng.integers(h // 20, h * 3 // 10))
        label[top:bottom, x : x + int(rng.integers(1, 4))] = POLE
        if rng.random() < 0.5:  # a sign on top of the pole
            cv2.circle(label, (x + 1, top - 3), int(rng.integers(2, 5)), SIGN, -1)
    for _ in range(rng.integers(1, 4)):  # free-standing small signs
        cx, cy, r = int(rng.integers(4, w - 4)), int(rng.integers(4, h - 4)), int(rng.integers(2, 5))
        cv2.rectangle(label, (cx - r, cy - r), (cx + r, cy + r), SIGN, -1)

    jitter = rng.integers(-15, 16, size=(len(SYNTHETIC_CLASSES), 3))
    palette = np.array([_BASE_RGB[c] for c in range(len(SYNTHETIC_CLASSES))]) + jitter
    image = palette[label].astype(np.float32)
    rows = np.arange(h)[:, None]
    image += ((label == SKY) * rows * (40.0 / h))[..., None]  # brighter towards the horizon
    image[(label == WALL) & (rows % 6 == 0)] -= 45  # brick courses
    image += rng.normal(0, 7, size=image.shape)

    # Void: a 1 px band around figures, and sometimes a patch of clutter nobody labelled.
    band = cv2.dilate((label == FIGURE).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    label[band & (label != FIGURE) & (label != POLE) & (label != SIGN)] = IGNORE_LABEL
    if rng.random() < 0.4:
        y0, x0 = int(rng.integers(0, h - h // 8)), int(rng.integers(0, w - w // 8))
        ph, pw = int(rng.integers(h // 16, h // 8)), int(rng.integers(w // 16, w // 8))
        label[y0 : y0 + ph, x0 : x0 + pw] = IGNORE_LABEL
        image[y0 : y0 + ph, x0 : x0 + pw] = rng.integers(0, 256, size=(ph, pw, 3))
    return np.clip(image, 0, 255).astype(np.uint8), label


def synthetic_dir(root: str, num_images: int, height: int, width: int, seed: int) -> str:
    """Folder that holds one generated set: ``<dir>/image/*.png`` and ``<dir>/label/*.png``."""
    return os.path.join(
        root, f"synthetic_v{_FORMAT_VERSION}_n{num_images}_{height}x{width}_seed{seed}"
    )


def generate_synthetic(root: str, num_images: int, height: int, width: int, seed: int) -> str:
    """
    Write the set into ``synthetic_dir(...)`` unless a complete copy is there; return that folder.
    Image ``i`` depends on ``(seed, i)`` alone (see :func:`write_once`).
    """
    out = synthetic_dir(root, num_images, height, width, seed)

    def write(tmp: str) -> None:
        for sub in ("image", "label"):
            os.mkdir(os.path.join(tmp, sub))
        for i in range(num_images):
            image, label = render_scene(np.random.default_rng((seed, i)), height, width)
            Image.fromarray(image).save(os.path.join(tmp, "image", f"{i:05d}.png"))
            Image.fromarray(label).save(os.path.join(tmp, "label", f"{i:05d}.png"))

    params = dict(num_images=num_images, height=height, width=width, seed=seed)
    return write_once(out, write, params)


def write_once(out: str, write: Callable[[str], None], params: dict) -> str:
    """
    Fill folder ``out`` by ``write(folder)`` unless it is complete (holds ``done.json``); return it.
    ``write`` fills a temporary folder beside ``out`` that is moved in place at the end, so
    concurrent processes and interrupted runs never leave a partial set.
    """
    if os.path.isfile(os.path.join(out, "done.json")):
        return out
    root = os.path.dirname(out)
    try:
        os.makedirs(root, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp_synthetic_", dir=root)
    except OSError as e:
        where = os.environ.get("SR_D2_CACHE", "unset, so ~/.cache/sr_d2")
        raise OSError(f"generated data cannot be written under {root} ({e.strerror}): set $SR_D2_CACHE to a "
                      f"writable folder ($SR_D2_CACHE is {where})") from None
    try:
        write(tmp)
        with open(os.path.join(tmp, "done.json"), "w") as f:
            json.dump(params, f)
        try:
            os.rename(tmp, out)
        except OSError:
            if not os.path.isfile(os.path.join(out, "done.json")):
                raise  # not a concurrent writer that finished first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def register_synthetic(
    name: str, root: str, *, num_images: int, height: int, width: int, seed: int
) -> None:
    """Register dataset ``name``: ``num_images`` scenes of ``height x width``, generated under ``root``."""
    out = synthetic_dir(root, num_images, height, width, seed)

    def load():
        generate_synthetic(root, num_images, height, width, seed)
        return load_sem_seg_folder(os.path.join(out, "image"), os.path.join(out, "label"))

    DatasetCatalog.register(name, load)
    set_sem_seg_metadata(
        name,
        SYNTHETIC_CLASSES,
        image_dir=os.path.join(out, "image"),
        gt_dir=os.path.join(out, "label"),
        colors=SYNTHETIC_COLORS,
        ignore_label=IGNORE_LABEL,
        thin_classes=("pole", "sign"),
    )
