"""One deep merge for Helm values, profile + stack config, and chart defaults + values (Pulumi-free)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deep_merge(base: Any, over: Mapping[str, Any], *, null_deletes: bool = False) -> Any:
    """`over` on top of `base`: mappings merge key by key, everything else (lists too) is replaced.

    A `None` in `over` is kept as a value (a stack config's `null` reaches pydantic, a Helm value's `null`
    reaches Helm, which then drops the chart's default) unless `null_deletes`, which does what Helm's
    coalesce does to the chart's defaults: the key goes. A top-level `base` that is a pulumi.Output (anything
    with `apply` that is not a mapping; duck-typed so this module needs no Pulumi) is merged into once known.
    """
    if not isinstance(base, Mapping) and callable(getattr(base, "apply", None)):
        return base.apply(lambda b: deep_merge(b, over, null_deletes=null_deletes))
    out = dict(base or {})
    for k, v in over.items():
        if v is None and null_deletes:
            out.pop(k, None)
        elif isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v, null_deletes=null_deletes)
        else:
            out[k] = v
    return out
