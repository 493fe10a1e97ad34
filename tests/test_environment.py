"""The installed stack: detectron2 (either source), its model zoo configs, sr-d2's registrations."""
import numpy as np


def test_detectron2_imports_with_model_zoo_configs():
    import detectron2.layers  # imports detectron2._C at module level in v0.6
    from detectron2 import model_zoo
    from detectron2.modeling import META_ARCH_REGISTRY

    cfg = model_zoo.get_config("common/models/panoptic_fpn.py")
    assert cfg.model.sem_seg_head.num_classes == 54
    assert META_ARCH_REGISTRY.get("SemanticSegmentor") is not None


def test_numpy_is_one_detectron2_runs_with():
    import detectron2

    if detectron2.__version__ == "0.6":  # the v0.6 fallback calls np.int / np.bool / np.float
        assert tuple(int(v) for v in np.__version__.split(".")[:2]) < (1, 24)
