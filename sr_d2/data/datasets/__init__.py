from . import builtin as _builtin  # registers the builtin datasets
from .camvid import CAMVID_CLASSES, register_camvid
from .sem_seg_folder import load_sem_seg_folder, register_sem_seg_folder, set_sem_seg_metadata
from .synthetic import SYNTHETIC_CLASSES, generate_synthetic, register_synthetic, render_scene
from .synthetic_panoptic import generate_synthetic_panoptic, register_synthetic_panoptic
from .synthetic_weak import generate_synthetic_weak, pseudo_label, register_synthetic_weak
