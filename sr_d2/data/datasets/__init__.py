from . import builtin as _builtin  # registers the builtin datasets
from .camvid import CAMVID_CLASSES, CAMVID_WEAK, generate_camvid_weak, register_camvid, register_camvid_weak
from .sem_seg_folder import load_sem_seg_folder, register_sem_seg_folder, set_sem_seg_metadata
from .synthetic import SYNTHETIC_CLASSES, generate_synthetic, register_synthetic, render_scene
from .synthetic_panoptic import generate_synthetic_panoptic, register_synthetic_panoptic
from .synthetic_weak import generate_synthetic_weak, register_synthetic_weak
from .weak_labels import pseudo_label, pseudo_label_quality
