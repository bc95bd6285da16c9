"""Kubernetes resource quantities ("500m", "1.5Gi", "1T", "1e3"), read one way, refused when unreadable
(Pulumi-free: components validate with it, stacks/analyses capacity and cost compute with it).

The arithmetic is the Kubernetes Python client's `kubernetes.utils.quantity.parse_quantity` (the Kubernetes
authors' port of apimachinery's resource.Quantity suffixes), its file loaded alone (see _k8s_parse_quantity). That function also takes what the API server
refuses (" 1Gi", "NaN", "Infinity", "1_000": it hands the number to `Decimal`), so a string must first match
the quantity grammar the API server's OpenAPI schema gives every quantity (the `pattern` in the pinned CRDs,
for example karpenter's NodePool `limits`).
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

# apimachinery's quantity grammar, as the CRDs' `x-kubernetes-int-or-string` quantity fields state it.
QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
MIB = 1 << 20
GIB = 1 << 30


class QuantityError(ValueError):
    """Not a Kubernetes quantity; the message names the value and what a quantity looks like."""

    def __init__(self, value: Any):
        self.value = value
        super().__init__(f"{value!r} is not a Kubernetes quantity (like 500m, 512Mi, 20Gi, 1T)")


@cache
def _k8s_parse_quantity() -> Callable[[str], Decimal]:
    """The client's kubernetes/utils/quantity.py (it imports only `decimal`), loaded by itself: importing
    it as `kubernetes.utils.quantity` runs the package's __init__, which loads the whole API client
    (0.3 s on an idle machine, over 1 s on a busy one) for one function."""
    package = importlib.util.find_spec("kubernetes")  # finds the package without running it
    if package is None or package.origin is None:
        raise ModuleNotFoundError("the kubernetes package is not installed: pip install mlplatform (it depends on it)")
    spec = importlib.util.spec_from_file_location(
        "mlplatform._kubernetes_quantity", Path(package.origin).parent / "utils" / "quantity.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    parse: Callable[[str], Decimal] = module.parse_quantity
    return parse


def parse_quantity(value: Any) -> Decimal:
    """A quantity as a Decimal in base units (bytes, cores); QuantityError for anything else."""
    if isinstance(value, bool):
        raise QuantityError(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise QuantityError(value)
        return Decimal(value)
    if not isinstance(value, str) or not QUANTITY.fullmatch(value):
        raise QuantityError(value)
    try:
        return Decimal(_k8s_parse_quantity()(value))
    except ValueError as e:  # the grammar above and the client disagree: refuse rather than guess
        raise QuantityError(value) from e


def is_quantity(value: Any) -> bool:
    try:
        parse_quantity(value)
    except QuantityError:
        return False
    return True
