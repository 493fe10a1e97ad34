from . import datasets
from .sem_seg_dataset_mapper import SemSegDatasetMapper, read_label_map
