"""Region tasks for power: record rack results, poll power states."""
from celery import shared_task

from power.services.results import power_failure_record, power_result_record


@shared_task(name="power.tasks.record_power_result")
def record_power_result(**outcome) -> None:
    """A rack reports a successful power action."""
    power_result_record(**outcome)


@shared_task(name="power.tasks.record_power_failure")
def record_power_failure(**outcome) -> None:
    """A rack reports a power action that failed for good."""
    power_failure_record(**outcome)


@shared_task(name="power.tasks.poll_power_states")
def poll_power_states() -> int:
    """Beat task: query the power state of this tick's share of machines."""
    from power.services.polling import poll_power_states as poll

    return poll()
