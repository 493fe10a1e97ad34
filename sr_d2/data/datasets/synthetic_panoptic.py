"""
The synthetic scenes (:func:`render_scene`) in COCO-panoptic format, registered through
detectron2's own ``register_coco_panoptic_separated``, the path of real COCO-panoptic data.
Things (instances: the connected regions of each thing class): figure, pole, sign, many of them
small. Stuff: sky, ground, wall.

Files under the set's folder: ``image/*.jpg``; ``panoptic/*.png`` (segment id = R + 256 G +
256^2 B, 0 void) with ``panoptic.json``; ``panoptic_stuff/*.png`` (0 things, 1..3 stuff, 255 void);
``instances.json`` (COCO instances, RLE masks).
"""
import json
import os

import cv2
import numpy as np
import pycocotools.mask as mask_util
from PIL import Image

from detectron2.data import DatasetCatalog
from detectron2.data.datasets import register_coco_panoptic, register_coco_panoptic_separated

from .synthetic import SYNTHETIC_CLASSES, SYNTHETIC_COLORS, render_scene, write_once

__all__ = ["generate_synthetic_panoptic", "register_synthetic_panoptic", "synthetic_panoptic_metadata"]

_THINGS = ("figure", "pole", "sign")
_STUFF = ("sky", "ground", "wall")
# Dataset category ids: things 1..3, stuff 4..6.
_CATEGORY_ID = {name: i + 1 for i, name in enumerate(_THINGS + _STUFF)}
_FORMAT_VERSION = 1


def synthetic_panoptic_metadata(separated: bool = True) -> dict:
    """
    detectron2 metadata of the "separated" format (semantic id 0: all things; Panoptic-FPN), or
    with ``separated=False`` of the standard one (every class a semantic id, things first, as
    detectron2's "coco_2017_*_panoptic"; Panoptic-DeepLab).
    """
    color = dict(zip(SYNTHETIC_CLASSES, SYNTHETIC_COLORS))
    if not separated:
        return {
            "thing_classes": list(_THINGS + _STUFF),
            "thing_colors": [list(color[c]) for c in _THINGS + _STUFF],
            "thing_dataset_id_to_contiguous_id": {_CATEGORY_ID[c]: i for i, c in enumerate(_THINGS)},
            "stuff_classes": list(_THINGS + _STUFF),
            "stuff_colors": [list(color[c]) for c in _THINGS + _STUFF],
            "stuff_dataset_id_to_contiguous_id": {
                _CATEGORY_ID[c]: len(_THINGS) + i for i, c in enumerate(_STUFF)},
        }
    return {
        "thing_classes": list(_THINGS),
        "thing_colors": [list(color[c]) for c in _THINGS],
        "thing_dataset_id_to_contiguous_id": {_CATEGORY_ID[c]: i for i, c in enumerate(_THINGS)},
        "stuff_classes": ["things"] + list(_STUFF),
        "stuff_colors": [[82, 18, 128]] + [list(color[c]) for c in _STUFF],
        "stuff_dataset_id_to_contiguous_id": {0: 0, **{_CATEGORY_ID[c]: i + 1 for i, c in enumerate(_STUFF)}},
    }


def _categories() -> list:
    color = dict(zip(SYNTHETIC_CLASSES, SYNTHETIC_COLORS))
    return [{"id": _CATEGORY_ID[c], "name": c, "isthing": int(c in _THINGS), "color": list(color[c])}
            for c in _THINGS + _STUFF]


def _id2rgb(ids: np.ndarray) -> np.ndarray:
    return np.stack([ids % 256, ids // 256 % 256, ids // 256**2], axis=-1).astype(np.uint8)


def _annotate(image_id: int, label: np.ndarray):
    """(panoptic id map, panoptic segments_info, COCO instance annotations, stuff label map)."""
    panoptic = np.zeros(label.shape, np.int64)
    stuff = np.full(label.shape, 255, np.uint8)
    segments, instances = [], []
    for name in _THINGS + _STUFF:
        cls, cat = SYNTHETIC_CLASSES.index(name), _CATEGORY_ID[name]
        mask = (label == cls).astype(np.uint8)
        if name in _STUFF:
            regions = [mask] if mask.any() else []
            stuff[mask > 0] = _STUFF.index(name) + 1
        else:
            num, ids = cv2.connectedComponents(mask, connectivity=8)
            regions = [(ids == k).astype(np.uint8) for k in range(1, num)]
            stuff[mask > 0] = 0
        for k, region in enumerate(regions):
            segment_id = cat * 1000 + k + 1
            panoptic[region > 0] = segment_id
            rle = mask_util.encode(np.asfortranarray(region))
            bbox = [float(v) for v in mask_util.toBbox(rle)]
            area = int(region.sum())
            segments.append({"id": segment_id, "category_id": cat, "iscrowd": 0, "bbox": bbox, "area": area})
            if name in _THINGS:
                rle["counts"] = rle["counts"].decode("ascii")
                instances.append({"id": image_id * 1000 + len(instances) + 1, "image_id": image_id,
                                  "category_id": cat, "iscrowd": 0, "bbox": bbox, "area": area,
                                  "segmentation": rle})
    return panoptic, segments, instances, stuff


def synthetic_panoptic_dir(root: str, num_images: int, height: int, width: int, seed: int) -> str:
    return os.path.join(
        root, f"synthetic_panoptic_v{_FORMAT_VERSION}_n{num_images}_{height}x{width}_seed{seed}"
    )


def generate_synthetic_panoptic(root: str, num_images: int, height: int, width: int, seed: int) -> str:
    """Write the set (image ``i`` from ``(seed, i)`` alone) unless complete; return its folder."""

    def write(tmp: str) -> None:
        for sub in ("image", "panoptic", "panoptic_stuff"):
            os.mkdir(os.path.join(tmp, sub))
        images, panoptic_annotations, instances = [], [], []
        for i in range(num_images):
            image, label = render_scene(np.random.default_rng((seed, i)), height, width)
            panoptic, segments, things, stuff = _annotate(i, label)
            stem = f"{i:05d}"
            Image.fromarray(image).save(os.path.join(tmp, "image", stem + ".jpg"), quality=95)
            Image.fromarray(_id2rgb(panoptic)).save(os.path.join(tmp, "panoptic", stem + ".png"))
            Image.fromarray(stuff).save(os.path.join(tmp, "panoptic_stuff", stem + ".png"))
            images.append({"id": i, "file_name": stem + ".jpg", "height": height, "width": width})
            panoptic_annotations.append({"image_id": i, "file_name": stem + ".png", "segments_info": segments})
            instances.extend(things)
        categories = _categories()
        with open(os.path.join(tmp, "panoptic.json"), "w") as f:
            json.dump({"images": images, "annotations": panoptic_annotations, "categories": categories}, f)
        with open(os.path.join(tmp, "instances.json"), "w") as f:
            json.dump({"images": images, "annotations": instances,
                       "categories": [c for c in categories if c["isthing"]]}, f)

    params = dict(num_images=num_images, height=height, width=width, seed=seed)
    return write_once(synthetic_panoptic_dir(root, num_images, height, width, seed), write, params)


def register_synthetic_panoptic(
    name: str, root: str, *, num_images: int, height: int, width: int, seed: int
) -> None:
    """
    Register ``name`` (detectron2's standard panoptic format, for Panoptic-DeepLab) with
    ``register_coco_panoptic``, and ``name + "_separated"`` (Panoptic-FPN's instances + stuff) and
    ``name + "_stuffonly"`` with ``register_coco_panoptic_separated``; generated on first load.
    """
    out = synthetic_panoptic_dir(root, num_images, height, width, seed)
    image_root, panoptic_root = os.path.join(out, "image"), os.path.join(out, "panoptic")
    panoptic_json = os.path.join(out, "panoptic.json")
    register_coco_panoptic(name, synthetic_panoptic_metadata(separated=False), image_root, panoptic_root,
                           panoptic_json)
    register_coco_panoptic_separated(
        name, synthetic_panoptic_metadata(), image_root, panoptic_root, panoptic_json,
        os.path.join(out, "panoptic_stuff"), os.path.join(out, "instances.json"),
    )
    for registered in (name, name + "_separated", name + "_stuffonly"):
        load = DatasetCatalog[registered]  # detectron2's loader, run once the files exist
        DatasetCatalog.remove(registered)
        DatasetCatalog.register(registered, _generating(load, root, num_images, height, width, seed))


def _generating(load, root, num_images, height, width, seed):
    def generate_and_load():
        generate_synthetic_panoptic(root, num_images, height, width, seed)
        return load()

    return generate_and_load
