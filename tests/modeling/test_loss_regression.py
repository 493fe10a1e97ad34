"""
The training losses of the CamVid SR config on one fixed batch, as recorded at commit 369132c (and
for the variants added since, when they were added): a change of the code that moves them changes
what the stored studies measured, so it must be deliberate and rerun them.
"""
import os

import pytest
import torch

from detectron2.config import instantiate
from detectron2.utils.events import EventStorage

from sr_d2.config import load_lazy_config
from sr_d2.tools.ablate import VARIANTS

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "camvid", "sr_sem_seg_fpn_R18.py")
SHARED = {"loss_exit_cls": 1.33393, "loss_exit_seg": 16.055645, "loss_sem_seg": 11.922135}
RECORDED = {
    "sr-d2": {**SHARED, "loss_sr_f": 3.212175, "loss_sr_l": 4.125774},
    "sr-f-res3": {**SHARED, "loss_sr_f": 1.941423, "loss_sr_l": 4.125774},
    "sr-f-unbalanced": {**SHARED, "loss_sr_f": 3.220458, "loss_sr_l": 4.125774},
    "balanced-ce": {"loss_sr_f": 25.101385},
    "plain-ce": {"loss_sr_f": 25.105175},
    "sr-f-soft-res3": {"loss_sr_f": 2.813739},
    "sr-f-res2res3": {"loss_sr_f": 2.329109},
}


@pytest.mark.parametrize("variant", sorted(RECORDED))
def test_losses_on_a_fixed_batch_are_the_recorded_ones(variant):
    torch.manual_seed(0)
    cfg = load_lazy_config(CONFIG, ["model.self_regulation.warmup=0", *VARIANTS[variant]])
    model = instantiate(cfg.model).train()
    g = torch.Generator().manual_seed(1)
    batch = [{"image": torch.rand(3, 64, 96, generator=g) * 255,
              "sem_seg": torch.randint(0, 11, (64, 96), generator=g)} for _ in range(2)]
    with EventStorage(0):
        losses = model(batch)
    for key, value in RECORDED[variant].items():
        assert losses[key].item() == pytest.approx(value, rel=1e-4, abs=1e-5), key
