from .hooks import SR_SCHEDULE, SRSchedule, sr_scale_schedule
