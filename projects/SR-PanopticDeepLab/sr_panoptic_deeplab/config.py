from typing import Optional, Sequence

from detectron2.config import CfgNode, get_cfg
from detectron2.projects.panoptic_deeplab import add_panoptic_deeplab_config

from sr_d2.config import add_sr_config

__all__ = ["panoptic_deeplab_config"]


def panoptic_deeplab_config(config_file: Optional[str] = None, opts: Sequence = ()) -> CfgNode:
    """
    The yacs config that detectron2's ``PanopticDeepLab`` is built from (its keys, sr-d2's
    ``MODEL.SR``), merged with ``config_file`` (a yaml of detectron2's Panoptic-DeepLab project,
    or this project's) and ``opts`` (["KEY", value, ...]); frozen. A LazyConfig builds the model
    with ``L(PanopticDeepLab)(cfg=L(panoptic_deeplab_config)(config_file=..., opts=[...]))``.
    """
    cfg = get_cfg()
    add_panoptic_deeplab_config(cfg)
    add_sr_config(cfg)
    if config_file is not None:
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return cfg
