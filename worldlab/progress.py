"""One look for long work: rich progress bars with rate and ETA."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second, in the task's own unit (``add_task(..., unit="steps")``)."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("-", style="cyan")
        return Text(f"{speed:,.2f} {task.fields.get('unit', 'it')}/s", style="cyan")


def progress_bar(enabled: bool = True, extra: str = "") -> Progress:
    """A rich ``Progress`` showing done/total, rate, elapsed and ETA (and an ``extra`` column)."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    if extra:
        columns.append(TextColumn(extra))
    return Progress(*columns, disable=not enabled)
