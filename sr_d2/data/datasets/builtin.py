"""Datasets registered when ``sr_d2`` is imported, following detectron2's ``builtin.py`` layout."""
import os

from .camvid import register_camvid, register_camvid_weak
from .synthetic import register_synthetic
from .synthetic_panoptic import register_synthetic_panoptic
from .synthetic_weak import register_synthetic_weak

# The embedded default set: image size and counts sized for a CPU training run of minutes.
SYNTHETIC_SPLITS = {
    "synthetic_sem_seg_train": dict(num_images=300, height=128, width=160, seed=0),
    "synthetic_sem_seg_val": dict(num_images=60, height=128, width=160, seed=1),
}
# The training scenes with pseudo-label masks and true image labels (weak supervision); evaluate
# on synthetic_sem_seg_val's clean masks.
SYNTHETIC_WEAK_SPLITS = {
    "synthetic_weak_sem_seg_train": dict(num_images=300, height=128, width=160, seed=0),
}
# The same scenes in COCO-panoptic format: "<name>_separated" for Panoptic-FPN.
SYNTHETIC_PANOPTIC_SPLITS = {
    "synthetic_panoptic_train": dict(num_images=300, height=128, width=160, seed=0),
    "synthetic_panoptic_val": dict(num_images=60, height=128, width=160, seed=1),
}


def cache_root() -> str:
    """Where generated data goes: ``$SR_D2_CACHE``, else ``~/.cache/sr_d2``."""
    return os.path.expanduser(os.getenv("SR_D2_CACHE", "~/.cache/sr_d2"))


def register_all(datasets_root: str, cache: str) -> None:
    for name, spec in SYNTHETIC_SPLITS.items():
        register_synthetic(name, cache, **spec)
    for name, spec in SYNTHETIC_WEAK_SPLITS.items():
        register_synthetic_weak(name, cache, **spec)
    for name, spec in SYNTHETIC_PANOPTIC_SPLITS.items():
        register_synthetic_panoptic(name, cache, **spec)
    register_camvid(os.path.join(datasets_root, "camvid"))
    # CamVid's train images with pseudo-label masks (made under the cache); scored on the true val and test masks
    register_camvid_weak("camvid_weak_sem_seg_train", os.path.join(datasets_root, "camvid"), cache)


register_all(os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")), cache_root())
