from .sem_seg_evaluation import (
    DEFAULT_AREA_THRESHOLDS,
    DEFAULT_BOUNDARY_TOLERANCE,
    SIZE_BINS,
    SRSemSegEvaluator,
    failure_masks,
    failure_metrics,
    failure_stats,
    gt_segments,
)
from .tables import failure_table, sem_seg_table
