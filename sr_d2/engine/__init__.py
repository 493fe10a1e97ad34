from .hooks import SR_SCHEDULE, SRSchedule
