"""Argo Rollouts' measurement verdict, for tests: the conditions' `expr` language, a tiny subset.

Argo Rollouts 1.9 (`utils/evaluate/evaluate.go`) compiles `successCondition`/`failureCondition` with
antonmedv/expr over `result` (a Prometheus vector is a list of floats, a scalar a float) and decides
(`EvaluateResult`): failure if the failure condition holds, success if only the success condition holds,
inconclusive if neither, error if either cannot be evaluated. The templates in
`components/serving/analysis.py` use only this subset, which `test_serving_analysis.py` checks against
examples from argo-rollouts' own tests:

    literals     numbers, true, false
    names        result; functions len(x), isNaN(x), isInf(x)
    postfix      x[N]                     (index out of range is an evaluation error, as in expr)
    operators    !  ==  !=  <  <=  >  >=  in  &&  ||   (&& and || short-circuit)
    grouping     ( )

Anything else (another name, `all(...)`, a closure, a string) raises ExprError: the subset is small on
purpose, and a condition outside it fails the test instead of being evaluated differently.
"""

from __future__ import annotations

import math
import re
from typing import Any

SUCCESSFUL, FAILED, INCONCLUSIVE, ERROR = "Successful", "Failed", "Inconclusive", "Error"


class ExprError(Exception):
    """The condition cannot be evaluated (Argo Rollouts: the measurement is an Error)."""


_TOKEN = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+)|([A-Za-z_][A-Za-z_0-9]*)|(&&|\|\||==|!=|<=|>=|[!<>()\[\],]))")
_FUNCS = {"len": len, "isNaN": math.isnan, "isInf": math.isinf}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExprError(f"unexpected {text[pos:]!r}")
        num, name, op = m.groups()
        out.append(("num", num) if num else ("name", name) if name else ("op", op))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, result: Any) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.result = result

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ExprError(f"expected {value or 'a value'}")
        self.i += 1
        return tok

    # Each level returns a thunk, so && and || evaluate their right side only when expr would.
    def parse(self) -> Any:
        thunk = self.or_()
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return thunk()

    def or_(self) -> Any:
        left = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda: _bool(a()) or _bool(b()))(left, right)
        return left

    def and_(self) -> Any:
        left = self.cmp()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.cmp()
            left = (lambda a, b: lambda: _bool(a()) and _bool(b()))(left, right)
        return left

    def cmp(self) -> Any:
        left = self.unary()
        tok = self.peek()
        if tok and tok[1] in ("==", "!=", "<", "<=", ">", ">=", "in"):
            self.take()
            right = self.unary()
            return (lambda a, b, op: lambda: _compare(op, a(), b()))(left, right, tok[1])
        return left

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            inner = self.unary()
            return lambda: not _bool(inner())
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while self.peek() == ("op", "["):
            self.take()
            index = self.or_()
            self.take("]")
            value = (lambda v, ix: lambda: _index(v(), ix()))(value, index)
        return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            number = float(text) if "." in text else int(text)
            return lambda: number
        if kind == "op" and text == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind == "name":
            if text in ("true", "false"):
                return lambda: text == "true"
            if text == "result":
                return lambda: self.result
            if text in _FUNCS and self.peek() == ("op", "("):
                self.take("(")
                arg = self.or_()
                self.take(")")
                fn = _FUNCS[text]
                return lambda: _call(fn, arg())
            raise ExprError(f"unknown name {text}")
        raise ExprError(f"unexpected {text!r}")


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ExprError(f"expected bool, got {type(v).__name__}")
    return v


def _call(fn: Any, arg: Any) -> Any:
    try:
        return fn(arg)
    except TypeError as e:
        raise ExprError(str(e)) from e


def _index(value: Any, index: Any) -> Any:
    if not isinstance(value, list) or not isinstance(index, int) or isinstance(index, bool):
        raise ExprError("cannot index")
    if not -len(value) <= index < len(value):
        raise ExprError(f"index out of range: {index} (array length is {len(value)})")
    return value[index]


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "in":
        if not isinstance(b, list):
            raise ExprError("operator in not defined")
        return a in b
    if op in ("==", "!="):
        same = type(a) is type(b) or (isinstance(a, (int, float)) and isinstance(b, (int, float)))
        equal = same and not isinstance(a, bool) ^ isinstance(b, bool) and a == b
        return equal if op == "==" else not equal
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
        raise ExprError(f"invalid operation: {op} (mismatched types)")
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def eval_condition(result: Any, condition: str) -> bool:
    """EvalCondition: the condition's value over `result`; ExprError when expr would fail."""
    value = _Parser(condition, result).parse()
    if not isinstance(value, bool):
        raise ExprError(f"expected bool, but got {type(value).__name__}")
    return value


def evaluate_result(result: Any, success: str, failure: str) -> str:
    """EvaluateResult: the measurement's phase for `result` under the two conditions."""
    try:
        ok = eval_condition(result, success) if success else False
        bad = eval_condition(result, failure) if failure else False
    except ExprError:
        return ERROR
    if not success and not failure:
        return SUCCESSFUL
    if success and not failure:
        bad = not ok
    if failure and not success:
        ok = not bad
    if bad:
        return FAILED
    if not ok:
        return INCONCLUSIVE
    return SUCCESSFUL


def resolve_args(text: str, args: dict[str, str]) -> str:
    """`{{args.NAME}}` replaced as Argo Rollouts does (an unknown argument is an error)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in args:
            raise KeyError(f"args.{m.group(1)} was not resolved")
        return args[m.group(1)]

    return re.sub(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}", sub, text)


def template_args(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    """A template's arguments: its defaults, overridden by `given` (MergeArgs); all must resolve."""
    out = {a["name"]: a["value"] for a in template["spec"].get("args", []) if "value" in a}
    for a in template["spec"].get("args", []):
        if a["name"] in given:
            out[a["name"]] = given[a["name"]]
        elif a["name"] not in out:
            raise KeyError(f"args.{a['name']} was not resolved")
    return out


def vector_result(prometheus_json: dict[str, Any]) -> Any:
    """What Argo Rollouts' Prometheus provider hands the conditions: a vector's values as floats, a
    scalar as one float (processResponse)."""
    data = prometheus_json["data"]
    if data["resultType"] == "scalar":
        return float(data["result"][1])
    if data["resultType"] == "vector":
        return [float(s["value"][1]) for s in data["result"]]
    raise ExprError(f"Prometheus metric type not supported: {data['resultType']}")


class ArgsError(Exception):
    """Argo Rollouts refuses to create the AnalysisRun (the step's analysis never starts)."""


def analysis_run_args(templates: list[dict[str, Any]], rollout_args: list[dict[str, Any]]) -> dict[str, Any]:
    """The arguments of the AnalysisRun Argo Rollouts v1.9.0 makes of one canary analysis step
    (utils/analysis/helpers.go NewAnalysisRunFromTemplates): the templates' arguments flattened in order
    (flattenArgs: a name given two different values is an error, whatever the Rollout passes), the
    Rollout's arguments merged over them (MergeArgs: only names a template declares; value or valueFrom),
    then every argument must have one (ResolveArgs). Returns name -> value (str) or valueFrom (dict)."""
    combined: dict[str, dict[str, Any]] = {}
    for t in templates:
        for arg in t["spec"].get("args", []):
            prev = combined.get(arg["name"])
            if prev is None:
                combined[arg["name"]] = dict(arg)
                continue
            if "value" in prev and "value" in arg and prev["value"] != arg["value"]:
                raise ArgsError(
                    f"Argument `{arg['name']}` specified multiple times with different values: "
                    f"'{prev['value']}', '{arg['value']}'"
                )
            if "value" not in prev:
                combined[arg["name"]] = dict(arg)
    for arg in rollout_args:
        if arg["name"] in combined:
            if "value" in arg:
                combined[arg["name"]]["value"] = arg["value"]
            elif "valueFrom" in arg:
                combined[arg["name"]]["valueFrom"] = arg["valueFrom"]
    out: dict[str, Any] = {}
    for name, arg in combined.items():
        if "value" not in arg and "valueFrom" not in arg:
            raise ArgsError(f"args.{name} was not resolved")
        out[name] = arg["value"] if "value" in arg else arg["valueFrom"]
    return out
