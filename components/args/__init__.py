"""Component inputs as pydantic models, Pulumi-free.

Each component's Args (and the sub-models a user writes, like `GpuPool`) is ONE pydantic model in this
package, its bounds and defaults declared once as Field constraints and validators. The component
validates its Args when they are built; the stack spec (stacks/config/spec.py) REUSES these types for
its sections, so a component used on its own and `mlplatform` accept and refuse exactly the same values
(tests/test_bounds.py checks it around every bound). Nothing here imports Pulumi: the CLI and the
evidence observer read the spec without the SDK.

Errors: building an Args (or a sub-model) with a bad value raises `ValidationError` — one line,
`field: problem; fix` — and the spec reports the same problem and fix under the stack's key path
(`gpu.pools.0.max`) through `explain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic import ValidationError as PydanticError
from pydantic._internal._model_construction import ModelMetaclass
from pydantic_core import ErrorDetails


class ValidationError(ValueError):
    """A component input is wrong. The message names the field and the fix, on one line."""

    def __init__(self, field: str, problem: str, fix: str):
        self.field, self.problem, self.fix = field, problem, fix
        super().__init__(f"{field}: {problem}; {fix}")


_KINDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "string": "a text value",
    "list": "a list like [a, b]",
    "dict": "a mapping of keys",
    "model": "a mapping of keys",
}


def _fix_for(err: ErrorDetails) -> str:
    t = err["type"]
    ctx = err.get("ctx") or {}
    if t == "extra_forbidden":
        return "remove it or check its spelling against stacks/profiles/pragmatic.yaml"
    if t == "greater_than_equal":
        return f"use a value >= {ctx.get('ge')}"
    if t == "greater_than":
        return f"use a value > {ctx.get('gt')}"
    if t == "less_than_equal":
        return f"use a value <= {ctx.get('le')}"
    if t == "less_than":
        return f"use a value < {ctx.get('lt')}"
    if t == "literal_error":
        return f"use one of {ctx.get('expected')}"
    if t.endswith("_type") or t.endswith("_parsing"):
        return f"give {_KINDS.get(t.split('_')[0], 'a value of the right type')}"
    if t == "missing":
        return "add this key"
    if t == "string_pattern_mismatch":
        return f"match the pattern {ctx.get('pattern')}"
    if t == "too_short":
        return f"give at least {ctx.get('min_length')}"
    return "fix this value"


def explain(err: ErrorDetails) -> tuple[str, str, str]:
    """(key path below the model, problem, fix) of one pydantic error. A validator that raised
    `ValidationError` keeps its own field (relative to the model it checked), problem and fix."""
    loc = [str(p) for p in err["loc"]]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, ValidationError):
        return ".".join([*loc, cause.field] if cause.field else loc), cause.problem, cause.fix
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return ".".join(loc), msg[:1].lower() + msg[1:], _fix_for(err)


def first_error(e: PydanticError, prefix: Sequence[str] = (), default: str = "args") -> ValidationError:
    """The first of pydantic's errors as one `ValidationError` (key path under `prefix`; `default` when
    the error is about the whole model)."""
    key, problem, fix = explain(e.errors()[0])
    return ValidationError(".".join([*prefix, key]) if key else ".".join(prefix) or default, problem, fix)


class _Built(ModelMetaclass):
    """Building a model directly (`GpuPool(...)`): positional fields mapped to their names, and a bad
    value raised as one `ValidationError`. (Not an `__init__` override: pydantic calls a custom
    `__init__` for every nested model it validates too, and the spec wants pydantic's own errors,
    located, from those.)"""

    def __call__(cls, *args: Any, **data: Any) -> Any:
        names: tuple[str, ...] = getattr(cls, "positional", ())
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__} takes at most {len(names)} positional arguments")
        data.update(zip(names, args, strict=False))
        try:
            return super().__call__(**data)
        except PydanticError as e:
            raise first_error(e, default=cls.__name__) from None


class Section(BaseModel, metaclass=_Built):
    """A model a user writes (a spec section, a pool, an adopted resource): unknown keys refused,
    defaults validated too; a bad value built directly raises one `ValidationError`."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
    # Fields that may also be given by position, in this order (the dataclasses these models replaced
    # were built that way: `GpuPool("gpu", ["g6.xlarge"])`).
    positional: ClassVar[tuple[str, ...]] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, v: Any, info: ValidationInfo) -> Any:
        """`true` is not 1: pydantic's lax mode would take it for a count (a quota of True cores)."""
        if isinstance(v, bool) and info.field_name is not None:
            ann = cls.model_fields[info.field_name].annotation
            kinds = get_args(ann) or (ann,)
            if bool not in kinds and any(k in (int, float) for k in kinds):
                raise ValidationError("", f"{v!r} is not a number", "give a whole number, like 2")
        return v


class Args(Section):
    """A component's inputs: a Section that may also hold Pulumi objects (Outputs, resources)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)


def min_max(lo: int, hi: int, where: str = "") -> None:
    """min <= max; the error names the model that checks it (`where` says what it is)."""
    if lo > hi:
        raise ValidationError(
            "", f"min ({lo}) is greater than max ({hi})" + (f" in {where}" if where else ""), "raise max or lower min"
        )
