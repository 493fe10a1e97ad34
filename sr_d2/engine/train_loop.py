"""detectron2's trainers with the checks sr-d2 adds: a diverged step says why when it can."""
from detectron2.engine import AMPTrainer, SimpleTrainer

__all__ = ["CheckedAMPTrainer", "CheckedSimpleTrainer", "RemembersLastBatch"]


class RemembersLastBatch:
    """A data loader that keeps the batch it gave last (``last``), to explain a failed step."""

    def __init__(self, loader):
        self.loader, self.last = loader, None

    def __iter__(self):
        for batch in self.loader:
            self.last = batch
            yield batch


class _StopsOnDivergence:
    """
    Trainer mixin: remembers the iteration whose loss was not finite (``diverged_at``), and
    says so when that batch had no labelled pixel (a head's mean CE over no pixel is NaN), which
    no learning rate fixes. ``ignore_value``: the label value of void pixels.
    """

    diverged_at = None
    ignore_value = None

    def run_step(self):
        try:
            super().run_step()
        except FloatingPointError as e:  # detectron2's trainers raise it for a NaN or infinite loss
            self.diverged_at = self.iter
            batch = getattr(self.data_loader, "last", None) or []
            labels = [x["sem_seg"] for x in batch if "sem_seg" in x]
            if labels and self.ignore_value is not None and all((y == self.ignore_value).all() for y in labels):
                files = [x.get("file_name", "?") for x in batch]
                raise FloatingPointError(
                    f"{e}\nThe batch of iteration {self.iter} has no labelled pixel: every label value is the "
                    f"ignore value {self.ignore_value} in {files}. Check those label maps (class ids, not "
                    f"colours) and the dataset's ignore_label; a lower learning rate will not help.") from e
            raise


class CheckedSimpleTrainer(_StopsOnDivergence, SimpleTrainer):
    pass


class CheckedAMPTrainer(_StopsOnDivergence, AMPTrainer):
    pass
