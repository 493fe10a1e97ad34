from typing import List

import torch
from fvcore.common.param_scheduler import (
    CompositeParamScheduler,
    ConstantParamScheduler,
    LinearParamScheduler,
    ParamScheduler,
)

from detectron2.config import configurable
from detectron2.engine import HookBase
from detectron2.utils import comm

from ..modeling.self_regulation import SelfRegulation

__all__ = ["SR_SCHEDULE", "SRSchedule", "sr_scale_schedule"]

# sr-d2's schedule: SR-F and SR-L off for the first quarter of training, while the teachers
# learn (docs/studies.md, "Choosing the defaults"), then at full weight at once.
SR_SCHEDULE = dict(warmup=0.25, ramp=0.0)


def sr_scale_schedule(warmup: float, ramp: float) -> CompositeParamScheduler:
    """
    The scale of SR-F and SR-L over training (``where`` = iteration / max_iter): 0 for the first
    ``warmup`` of it, then linear from 0 to 1 over the next ``ramp``, then 1.
    """
    _check(warmup=warmup, ramp=ramp)
    pieces = [(ConstantParamScheduler(0.0), warmup), (LinearParamScheduler(0.0, 1.0), ramp),
              (ConstantParamScheduler(1.0), 1.0 - warmup - ramp)]
    pieces = [(scheduler, length) for scheduler, length in pieces if length > 0]
    schedulers, lengths = zip(*pieces)
    return CompositeParamScheduler(list(schedulers), list(lengths), ["rescaled"] * len(pieces))


class SRSchedule(HookBase):
    """
    Sets the scale of SR-F and SR-L (``SelfRegulation.scale``) of every SelfRegulation in the
    trainer's model before each step, from an fvcore ``ParamScheduler`` read at iteration /
    max_iter, as detectron2's ``LRMultiplier`` reads the learning rate's (default:
    :func:`sr_scale_schedule`). Without the hook the scale stays 1: SR at full weight from the
    first iteration.

    SR must wait for its teachers, or the students copy untrained teachers and the rare classes
    collapse. With ``switch_on_accuracy``, the schedule's clock also stops where its warm-up
    ends (its first non-zero scale) until the teachers' running pixel accuracy on the training
    batches (``SelfRegulation.teacher_accuracy``, averaged over the processes) reaches it; the
    iteration it switched on at is the hook's state, so a resumed run keeps it. Logs "sr_scale"
    and "sr_teacher_accuracy".
    """

    @configurable
    def __init__(self, *, scheduler: ParamScheduler, switch_on_accuracy: float = 0.0):
        """
        Args:
            scheduler: SR's scale as a function of the fraction of training done.
            switch_on_accuracy: if > 0, the schedule waits at the end of its warm-up for the
                teachers' running accuracy to reach this.
        """
        if not isinstance(scheduler, ParamScheduler):
            raise TypeError(f"SRSchedule: scheduler must be an fvcore ParamScheduler (e.g. "
                            f"sr_scale_schedule(warmup, ramp)), got {type(scheduler).__name__}")
        _check(switch_on_accuracy=switch_on_accuracy)
        self.scheduler, self.switch_on_accuracy = scheduler, switch_on_accuracy
        self.switched_on_at = -1  # the adaptive switch's iteration; -1: not yet
        self._warmup_end = 0  # the first iteration at which the schedule's scale is not 0
        self._modules: List[SelfRegulation] = []

    @classmethod
    def from_config(cls, cfg):
        sr = cfg.MODEL.SR
        return {"scheduler": sr_scale_schedule(sr.WARMUP, sr.RAMP),
                "switch_on_accuracy": sr.SWITCH_ON_ACCURACY}

    def before_train(self):
        model = getattr(self.trainer.model, "module", self.trainer.model)  # unwrapped from DDP
        self._modules = [m for m in model.modules() if isinstance(m, SelfRegulation)]
        if not self._modules:
            raise ValueError(f"SRSchedule: the model {type(model).__name__} has no SelfRegulation to schedule")
        if self.switch_on_accuracy > 0:
            max_iter = self.trainer.max_iter
            self._warmup_end = next((i for i in range(max_iter) if self._scheduled(i) != 0), max_iter)

    def scale(self, iteration: int) -> float:
        """SR-F's and SR-L's factor at ``iteration`` of ``self.trainer.max_iter``."""
        if self.switch_on_accuracy > 0:
            if self.switched_on_at < 0 or iteration < self.switched_on_at:
                return 0.0
            iteration -= self.switched_on_at - self._warmup_end  # the clock held while it waited
        return self._scheduled(iteration)

    def _scheduled(self, iteration: int) -> float:
        # rounded: the pieces' boundaries leave float error (2.8e-16 for the ramp's 0)
        max_iter = self.trainer.max_iter
        return round(float(self.scheduler(min(iteration, max_iter - 1) / max_iter)), 6)

    def before_step(self):
        scale = self.scale(self.trainer.iter)
        for module in self._modules:
            module.scale = scale
        self.trainer.storage.put_scalar("sr_scale", scale, smoothing_hint=False)

    def after_step(self):
        accuracy = torch.stack([m.teacher_accuracy for m in self._modules]).mean()
        self.trainer.storage.put_scalar("sr_teacher_accuracy", float(accuracy), smoothing_hint=False)
        iteration = self.trainer.iter
        if self.switch_on_accuracy <= 0 or self.switched_on_at >= 0 or iteration + 1 < self._warmup_end:
            return
        if comm.get_world_size() > 1:  # every process must switch at the same iteration
            accuracy = accuracy.clone()
            torch.distributed.all_reduce(accuracy)
            accuracy /= comm.get_world_size()
        if accuracy >= self.switch_on_accuracy:
            self.switched_on_at = iteration + 1

    def state_dict(self):
        return {"switched_on_at": self.switched_on_at}

    def load_state_dict(self, state_dict):
        self.switched_on_at = state_dict["switched_on_at"]


def _check(**settings) -> None:
    """ValueError naming the first schedule setting that cannot work."""
    problems = []
    for name, value in settings.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        # at a warm-up or accuracy of 1, SR would never switch on
        if not number or not 0 <= value <= 1 or (value == 1 and name != "ramp"):
            problems.append(f"{name} must be a number in [0, 1{']' if name == 'ramp' else ')'}, got {value!r}")
    if not problems and "ramp" in settings and settings["warmup"] + settings["ramp"] > 1:
        problems.append(f"warmup={settings['warmup']!r} + ramp={settings['ramp']!r} is more than the "
                        f"schedule: SR would never reach full weight; shorten one so that they add up "
                        f"to at most 1")
    if problems:
        raise ValueError("SRSchedule: " + "; ".join(problems))
