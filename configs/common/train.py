import torch
from fvcore.common.param_scheduler import PolynomialDecayParamScheduler

from detectron2 import model_zoo
from detectron2.config import LazyCall as L
from detectron2.solver import WarmupParamScheduler

# detectron2's train settings (output_dir, max_iter, amp, ddp, checkpointer, eval_period, ...).
train = model_zoo.get_config("common/train.py").train
train.device = "cuda" if torch.cuda.is_available() else "cpu"
train.seed = 0
train.log_period = 20

# Poly decay (power 0.9) after a linear warm-up over the first 2% of iterations.
lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(PolynomialDecayParamScheduler)(base_value=1.0, power=0.9),
    warmup_length=0.02,
    warmup_factor=0.01,
)
