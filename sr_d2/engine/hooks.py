from typing import List

import torch

from detectron2.config import configurable
from detectron2.engine import HookBase
from detectron2.utils import comm

from ..modeling.self_regulation import SelfRegulation

__all__ = ["SR_SCHEDULE", "SRSchedule"]

# sr-d2's schedule: SR-F and SR-L off for the first quarter of training, while the teachers
# learn (docs/studies.md, "Choosing the defaults"), then at full weight at once.
SR_SCHEDULE = dict(warmup=0.25, ramp=0.0, switch_on_accuracy=0.0)


class SRSchedule(HookBase):
    """
    Sets the scale of SR-F and SR-L (``SelfRegulation.scale``) of every SelfRegulation in the
    trainer's model before each step: 0 during the warm-up, then rising linearly to 1. Without
    it the scale stays 1: SR at full weight from the first iteration.

    SR must wait for its teachers, or the students copy untrained teachers and the rare classes
    collapse. It switches on at ``warmup * max_iter``, or with ``switch_on_accuracy`` at the
    first step after that at which the teachers' running pixel accuracy on the training batches
    (``SelfRegulation.teacher_accuracy``, averaged over the processes) reaches it. That
    iteration is the hook's state, so a resumed run keeps it. Logs "sr_scale" and
    "sr_teacher_accuracy".
    """

    @configurable
    def __init__(self, *, warmup: float, ramp: float, switch_on_accuracy: float):
        """
        Args:
            warmup: SR weighs 0 for this fraction of the trainer's ``max_iter``.
            ramp: then rises linearly to full weight over this fraction of ``max_iter``.
            switch_on_accuracy: if > 0, SR switches on only once the teachers' running accuracy
                reaches this, and not before the warm-up ends.
        """
        _check(warmup=warmup, ramp=ramp, switch_on_accuracy=switch_on_accuracy)
        self.warmup, self.ramp, self.switch_on_accuracy = warmup, ramp, switch_on_accuracy
        self.switched_on_at = -1  # the adaptive switch's iteration; -1: not yet
        self._modules: List[SelfRegulation] = []

    @classmethod
    def from_config(cls, cfg):
        return {key: cfg.MODEL.SR[key.upper()] for key in SR_SCHEDULE}

    def before_train(self):
        model = getattr(self.trainer.model, "module", self.trainer.model)  # unwrapped from DDP
        self._modules = [m for m in model.modules() if isinstance(m, SelfRegulation)]
        if not self._modules:
            raise ValueError(f"SRSchedule: the model {type(model).__name__} has no SelfRegulation to schedule")

    def scale(self, iteration: int) -> float:
        """Factor in [0, 1] on SR-F and SR-L at ``iteration`` of ``self.trainer.max_iter``."""
        max_iter = self.trainer.max_iter
        warmup_iters, ramp_iters = round(self.warmup * max_iter), round(self.ramp * max_iter)
        start = self.switched_on_at if self.switch_on_accuracy > 0 else warmup_iters
        if start < 0 or iteration < start:
            return 0.0
        return 1.0 if ramp_iters == 0 else min(1.0, (iteration - start + 1) / ramp_iters)

    def before_step(self):
        scale = self.scale(self.trainer.iter)
        for module in self._modules:
            module.scale = scale
        self.trainer.storage.put_scalar("sr_scale", scale, smoothing_hint=False)

    def after_step(self):
        accuracy = torch.stack([m.teacher_accuracy for m in self._modules]).mean()
        self.trainer.storage.put_scalar("sr_teacher_accuracy", float(accuracy), smoothing_hint=False)
        iteration = self.trainer.iter
        if (self.switch_on_accuracy <= 0 or self.switched_on_at >= 0
                or iteration + 1 < round(self.warmup * self.trainer.max_iter)):
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
    if not problems and settings["warmup"] + settings["ramp"] > 1:
        problems.append(f"warmup={settings['warmup']!r} + ramp={settings['ramp']!r} is more than the "
                        f"schedule: SR would never reach full weight; shorten one so that they add up "
                        f"to at most 1")
    if problems:
        raise ValueError("SRSchedule: " + "; ".join(problems))
