from . import datasets
from .sem_seg_dataset_mapper import SemSegDatasetMapper, check_pair_headers, read_image, read_label_map
