"""Scheduled Flex functions: the per-worker loop and the run history."""

from kinbase.core.schedules.runs import ScheduleRun, ScheduleRuns
from kinbase.core.schedules.scheduler import Scheduler

__all__ = ["ScheduleRun", "ScheduleRuns", "Scheduler"]
