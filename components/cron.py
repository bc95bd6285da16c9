"""The one cron checker: retraining.schedule (Kubernetes CronJob / Argo CronWorkflow), review.schedule
(GitHub Actions `on.schedule`) and the evidence observer's CronJob (Pulumi-free).

`croniter` reads the expression (ranges, steps, lists, month and weekday names; `99 99 99 99 99` is
refused). It also reads extensions none of those schedulers take (`?`, `L`, `W`, `#`, `H`, seconds as a
sixth field), so only the five standard fields of digits, `*`, `/`, `,`, `-` and three-letter names pass
to it, or one of the macros all three accept.
"""

from __future__ import annotations

import re

from croniter import croniter

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_STANDARD = re.compile(r"^[0-9*/,-]+$")
_NAME = re.compile(r"[A-Za-z]{3}")
FIX = 'use 5 fields "minute hour day-of-month month day-of-week" (UTC), like "0 3 * * 1", or @daily'


def valid_cron(expression: object) -> bool:
    """A standard 5-field cron expression or a macro, as the Kubernetes, Argo and GitHub schedulers read it."""
    if not isinstance(expression, str):
        return False
    if expression.strip() in MACROS:
        return True
    fields = expression.split()  # whitespace-separated, as the schedulers split it
    if len(fields) != 5:
        return False
    for i, f in enumerate(fields):
        if not _STANDARD.match(_NAME.sub("0", f) if i >= 3 else f):  # names only for month and weekday
            return False
    return bool(croniter.is_valid(" ".join(fields)))
