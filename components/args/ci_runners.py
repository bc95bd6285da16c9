"""How many runners a scale set may run (components/ci_runners.py), Pulumi-free: the stack spec's
`runners.cpu`, `runners.gpu` and each team's `runners.cpu` / `runners.gpu` ARE `RunnerScale`."""

from __future__ import annotations

from pydantic import AliasChoices, ConfigDict, Field, model_validator

from . import Section, ValidationError


class RunnerScale(Section):
    """How many runners one scale set may run.

    Fields:
        min_runners (int, default 0; `min` in a stack's config): idle runners kept waiting; 0 means
            nothing runs (or bills) without a job.
        max_runners (int, default 1; `max` in a stack's config): most runners at once, at least 1 and at
            least min_runners.
    """

    positional = ("min_runners", "max_runners")

    # A stack's config says min/max (dumped that way too: `team list --json`).
    model_config = ConfigDict(serialize_by_alias=True)

    min_runners: int = Field(0, ge=0, validation_alias=AliasChoices("min", "min_runners"), serialization_alias="min")
    max_runners: int = Field(1, ge=1, validation_alias=AliasChoices("max", "max_runners"), serialization_alias="max")

    @property
    def min(self) -> int:
        return self.min_runners

    @property
    def max(self) -> int:
        return self.max_runners

    @model_validator(mode="after")
    def _bounds(self) -> RunnerScale:
        if self.min_runners > self.max_runners:
            raise ValidationError(
                "",
                f"min ({self.min_runners}) is greater than max ({self.max_runners}) in runner scale set",
                "raise max or lower min",
            )
        return self
