"""What the project tests share: a project's SR model and its plain twin, and a semantic batch."""
import os

import torch

from detectron2.config import instantiate

from sr_d2.config import load_lazy_config

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "projects")


def configs_of(project: str) -> str:
    """The configs folder of ``projects/<project>``."""
    return os.path.join(PROJECTS, project, "configs")


def sr_and_plain(project: str, sr_config: str, plain_config: str):
    """The models of ``project``'s SR config and of its plain twin, built from the same seed."""
    torch.manual_seed(0)
    sr = instantiate(load_lazy_config(os.path.join(configs_of(project), sr_config)).model)
    plain = instantiate(load_lazy_config(os.path.join(configs_of(project), plain_config)).model)
    return sr, plain


def semantic_batch(n: int = 2, h: int = 64, w: int = 96) -> list:
    """``n`` random training inputs of the synthetic set's 6 classes, (h, w) each."""
    g = torch.Generator().manual_seed(0)
    return [{"image": torch.randint(0, 256, (3, h, w), generator=g).float(),
             "sem_seg": torch.randint(0, 6, (h, w), generator=g), "height": h, "width": w}
            for _ in range(n)]
