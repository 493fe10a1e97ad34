"""The installed stack: detectron2 (either source), its model zoo configs, sr-d2's registrations."""
import numpy as np
import pytest

from detectron2.utils import comm


def _detectron2_is_v06() -> bool:
    # Both report __version__ "0.6"; main added comm.create_local_process_group.
    return not hasattr(comm, "create_local_process_group")


def test_detectron2_imports_with_model_zoo_configs():
    import detectron2.layers  # imports detectron2._C at module level in v0.6
    from detectron2 import model_zoo
    from detectron2.modeling import META_ARCH_REGISTRY, SemanticSegmentor

    cfg = model_zoo.get_config("common/models/panoptic_fpn.py")
    assert cfg.model.sem_seg_head.num_classes == 54
    assert META_ARCH_REGISTRY.get("SemanticSegmentor") is SemanticSegmentor


def test_numpy_is_one_detectron2_runs_with():
    if not _detectron2_is_v06():
        pytest.skip("detectron2 main runs on any numpy, numpy 2 included")
    # v0.6 calls np.int / np.bool / np.float, removed in numpy 1.24
    assert tuple(int(v) for v in np.__version__.split(".")[:2]) < (1, 24)
