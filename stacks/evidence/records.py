"""What a ledger record says: an in-toto Statement v1 whose subject is the model's OCI artifact.

Predicate types (one per KIND of `mlplatform evidence record KIND`):

| kind        | predicateType                                      | says |
|-------------|----------------------------------------------------|------|
| provenance  | https://slsa.dev/provenance/v1                     | SLSA Provenance v1: git commit, workflow run, training image digest, MLflow run id, data versions |
| evaluation  | https://mlplatform.dev/evidence/evaluation/v1      | metrics, thresholds, passed, the production model compared against and its metrics |
| approval    | https://mlplatform.dev/evidence/approval/v1        | who approved, when, through what (environment approval, pull-request review), the comment |
| deployment  | https://mlplatform.dev/evidence/deployment/v1      | environment/alias moved from digest -> to digest (the subject), version, when |
| observation | https://mlplatform.dev/evidence/observation/v1     | what the cluster actually ran (pods and their model digests), when |
| review      | https://mlplatform.dev/evidence/review/v1          | outcome of a periodic inspection: who, when, outcome, comment |
| rollback    | https://mlplatform.dev/evidence/rollback/v1        | environment went back to the subject (what serves now) from a failed or replaced digest: why (analysis-failed, timeout, manual), the failed analysis, versions, when |
| drift       | https://mlplatform.dev/evidence/drift/v1           | a drift job's result: window, reference data, score, threshold, drifted, per-feature scores |

Every predicate carries one more field, `ledger`, the hash-chain link (signed with the rest):
`{"model", "seq", "previous": "sha256:<hex of the previous record's envelope>" | null, "recordedAt",
"recordedBy"}`. SLSA and in-toto consumers ignore fields they do not know.

Fields (`--field key=value`, repeatable; a repeated key makes a list) map onto those shapes; `--predicate
FILE` gives a JSON predicate the fields are merged into. A field a kind does not know is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .errors import EvidenceError


def a_or_an(word: str) -> str:
    """`an evaluation`, `a deployment`: the article a message puts before `word`."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
EVIDENCE_URI = "https://mlplatform.dev/evidence"
BUILD_TYPE = f"{EVIDENCE_URI}/training/v1"
PREDICATE_TYPES: dict[str, str] = {
    "provenance": "https://slsa.dev/provenance/v1",
    "evaluation": f"{EVIDENCE_URI}/evaluation/v1",
    "approval": f"{EVIDENCE_URI}/approval/v1",
    "deployment": f"{EVIDENCE_URI}/deployment/v1",
    "observation": f"{EVIDENCE_URI}/observation/v1",
    "review": f"{EVIDENCE_URI}/review/v1",
    "rollback": f"{EVIDENCE_URI}/rollback/v1",
    "drift": f"{EVIDENCE_URI}/drift/v1",
}
KINDS = tuple(PREDICATE_TYPES)
KIND_OF = {v: k for k, v in PREDICATE_TYPES.items()}
DEFAULT_ENVIRONMENT = "production"
APPROVAL_METHODS = ("environment", "pull-request", "manual")
REVIEW_OUTCOMES = ("keep", "retrain", "rollback", "retire")
ROLLBACK_REASONS = ("analysis-failed", "timeout", "aborted", "manual")
ROLE = "mlplatform.dev/role"  # annotation of a SLSA resolvedDependency: source | image | data

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


# -- values ---------------------------------------------------------------------------------------
def check_model(name: str) -> str:
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise EvidenceError(
            "--model",
            f"{name!r} is not a model name",
            "use letters, digits, '.', '_' or '-' (at most 63, like the MLflow model / OCI tag prefix)",
        )
    return name


def check_digest(value: str, what: str = "--digest") -> str:
    if not isinstance(value, str) or not DIGEST.match(value):
        raise EvidenceError(
            what,
            f"{value!r} is not a sha256 digest",
            "give the OCI manifest digest as sha256:<64 lowercase hex> (oras/crane print it)",
        )
    return value


def parse_time(value: str, what: str = "TIME") -> datetime:
    """ISO 8601 (`2026-03-01`, `2026-03-01T12:00:00Z`, `...+02:00`) -> aware UTC; no zone means UTC."""
    try:
        t = datetime.fromisoformat(value.strip()) if isinstance(value, str) else None
    except ValueError:
        t = None
    if t is None:
        raise EvidenceError(what, f"{value!r} is not an ISO 8601 time", "write it like 2026-03-01T12:00:00Z")
    return (t.replace(tzinfo=UTC) if t.tzinfo is None else t).astimezone(UTC)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def now_utc() -> datetime:
    return datetime.now(UTC)


def sha(digest: str) -> dict[str, str]:
    """`sha256:<hex>` -> an in-toto DigestSet."""
    return {"sha256": digest.split(":", 1)[1]}


def digest_of(digest_set: Any) -> str | None:
    """An in-toto DigestSet (or `sha256:` string) -> `sha256:<hex>`, None if it has no sha256."""
    if isinstance(digest_set, str):
        return digest_set if DIGEST.match(digest_set) else None
    if isinstance(digest_set, dict) and isinstance(digest_set.get("sha256"), str):
        return f"sha256:{digest_set['sha256']}"
    return None


def parse_fields(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """`key=value` pairs -> {key: value}; a repeated key becomes a list of its values."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.match(r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_./-]+)?$", key):
            # a malformed option is a usage error (exit 2), like `--set k`
            raise UsageError("--field", f"{pair!r} is not key=value", "write it like --field by=alice")
        if key in out:
            out[key] = (out[key] if isinstance(out[key], list) else [out[key]]) + [value]
        else:
            out[key] = value
    return out


def read_predicate(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise EvidenceError("--predicate", f"cannot read {path}: {e.strerror or e}", "check the path") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise EvidenceError("--predicate", f"{path} is not JSON ({e})", "give a JSON object (the predicate)") from None
    if not isinstance(data, dict):
        raise EvidenceError(
            "--predicate", f"{path} holds {a_or_an(type(data).__name__)}", "give a JSON object (the predicate)"
        )
    if "ledger" in data:
        raise EvidenceError(
            "--predicate", f"{path} sets `ledger`", "remove it: the ledger writes the chain link itself"
        )
    return data


# -- field -> predicate, per kind -----------------------------------------------------------------
class _Fields:
    """Takes fields off a dict one by one; whatever is left over is refused by name."""

    def __init__(self, kind: str, fields: dict[str, Any]):
        self.kind, self.left = kind, dict(fields)

    def one(self, key: str, default: Any = None) -> Any:
        v = self.left.pop(key, default)
        if isinstance(v, list):
            raise EvidenceError(f"--field {key}", "is given more than once", "give it once")
        return v

    def many(self, key: str) -> list[str]:
        v = self.left.pop(key, [])
        return v if isinstance(v, list) else [v]

    def group(self, prefix: str) -> dict[str, float]:
        out = {}
        for k in [k for k in self.left if k.startswith(prefix + ".")]:
            v = self.one(k)
            try:
                out[k[len(prefix) + 1 :]] = float(v)
            except ValueError:
                raise EvidenceError(f"--field {k}", f"{v!r} is not a number", "give a number like 0.923") from None
        return out

    def time(self, key: str) -> str | None:
        v = self.one(key)
        return iso(parse_time(v, f"--field {key}")) if v is not None else None

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
        v = self.one(key, default)
        if v is not None and v not in choices:
            raise EvidenceError(
                f"--field {key}", f"{v!r} is not one of {', '.join(choices)}", f"use one of {', '.join(choices)}"
            )
        return v

    def done(self, known: str) -> None:
        if self.left:
            k = sorted(self.left)[0]
            raise EvidenceError(f"--field {k}", f"is not a field of {a_or_an(self.kind)} record", f"use {known}")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if v is None or v == {} or v == []:
            continue
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _data_dependency(ref: str) -> dict[str, Any]:
    """`s3://bucket/key?versionId=V`, `NAME@sha256:HEX` or `sha256:HEX` -> a SLSA ResourceDescriptor."""
    m = re.match(r"^(s3://[^?]+)\?versionId=(.+)$", ref)
    if m:
        return {"uri": m[1], "annotations": {ROLE: "data", "s3VersionId": m[2]}}
    name, _, digest = ref.rpartition("@") if "@" in ref else ("", "", ref)
    if DIGEST.match(digest):
        return {**({"uri": name} if name else {}), "digest": sha(digest), "annotations": {ROLE: "data"}}
    raise EvidenceError(
        "--field data",
        f"{ref!r} names no data version",
        "give s3://BUCKET/KEY?versionId=V (an S3 object version), NAME@sha256:HEX or sha256:HEX",
    )


# in-toto's DigestSet: gitCommit is a full SHA-1 (40) or SHA-256 (64) object name in lowercase hex.
GIT_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def _provenance(f: _Fields, base: dict[str, Any], subject: str) -> dict[str, Any]:
    commit, repo, ref = f.one("commit"), f.one("repository"), f.one("ref")
    image, run = f.one("image"), f.one("run")
    deps: list[dict[str, Any]] = []
    if commit:
        if not GIT_COMMIT.match(commit):
            raise EvidenceError(
                "--field commit",
                f"{commit!r} is not a full git commit: an in-toto gitCommit digest is exactly 40 (SHA-1) or 64 "
                f"(SHA-256) lowercase hex characters",
                "give the full SHA (`git rev-parse HEAD`, $GITHUB_SHA), not an abbreviation",
            )
        deps.append(
            {
                "uri": f"git+{repo}" + (f"@{ref}" if ref else "") if repo else "git",
                "digest": {"gitCommit": commit},
                "annotations": {ROLE: "source"},
            }
        )
    if image:
        name, _, digest = image.rpartition("@")
        if not name or not DIGEST.match(digest):
            raise EvidenceError(
                "--field image",
                f"{image!r} is not pinned by digest",
                "give the training image as REPOSITORY@sha256:HEX",
            )
        deps.append({"uri": f"oci://{name}", "digest": sha(digest), "annotations": {ROLE: "image"}})
    deps += [_data_dependency(d) for d in f.many("data")]
    fields = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                k: v for k, v in (("repository", repo), ("ref", ref), ("workflow", f.one("workflow"))) if v
            },
            "internalParameters": {
                k: v for k, v in (("mlflowRunId", f.one("mlflow_run")), ("version", f.one("version"))) if v
            },
        },
        "runDetails": {
            "builder": {"id": f.one("builder") or run or "https://mlplatform.dev/evidence/ci"},
            "metadata": {
                k: v
                for k, v in (
                    ("invocationId", run),
                    ("startedOn", f.time("started")),
                    ("finishedOn", f.time("finished")),
                )
                if v
            },
        },
    }
    f.done(
        "commit, repository, ref, workflow, run, image, mlflow_run, version, data (repeatable), builder, "
        "started, finished"
    )
    out = _merge(base, fields)
    if deps:
        out.setdefault("buildDefinition", {})["resolvedDependencies"] = (
            list(base.get("buildDefinition", {}).get("resolvedDependencies", [])) + deps
        )
    bd = out.get("buildDefinition", {})
    if not any(d.get("digest", {}).get("gitCommit") for d in bd.get("resolvedDependencies", [])):
        raise EvidenceError(
            "--field commit", "a provenance record needs the git commit it trained from", "add --field commit=<sha>"
        )
    bd.setdefault("buildType", BUILD_TYPE)
    if not bd.get("externalParameters"):  # SLSA v1 requires it, and counts an empty object as unset
        raise EvidenceError(
            "--field repository",
            "a provenance record needs the build's external parameters (SLSA v1 `externalParameters`: what "
            "the caller chose), and none was given",
            "add --field repository=https://github.com/OWNER/REPO --field ref=$GITHUB_REF "
            "--field workflow=$GITHUB_WORKFLOW_REF (or give them in --predicate)",
        )
    out.setdefault("runDetails", {}).setdefault("builder", {"id": "https://mlplatform.dev/evidence/ci"})
    return out


def _evaluation(f: _Fields, base: dict[str, Any], subject: str) -> dict[str, Any]:
    baseline = f.one("baseline")
    if baseline not in (None, "none"):
        check_digest(baseline, "--field baseline")
    passed = f.one("passed")
    if passed is not None and passed not in ("true", "false"):
        raise EvidenceError("--field passed", f"{passed!r} is not true or false", "give true or false")
    metrics, thresholds, baseline_metrics = f.group("metric"), f.group("threshold"), f.group("baseline_metric")
    fields = {
        "metrics": metrics,
        "thresholds": thresholds,
        "baseline": {
            k: v
            for k, v in (
                ("digest", sha(baseline) if baseline not in (None, "none") else None),
                ("metrics", baseline_metrics),
            )
            if v
        }
        or None,
        "passed": None if passed is None else passed == "true",
        "mlflowRunId": f.one("mlflow_run"),
        "evaluatedAt": f.time("when"),
    }
    f.done(
        "metric.NAME, threshold.NAME, baseline (digest of the production model), baseline_metric.NAME, "
        "passed, mlflow_run, when"
    )
    out = _merge(base, fields)
    if not out.get("metrics"):
        raise EvidenceError(
            "--field metric.NAME", "an evaluation record needs at least one metric", "add --field metric.val_loss=0.21"
        )
    return out


def _approval(f: _Fields, base: dict[str, Any], subject: str) -> dict[str, Any]:
    fields = {
        "approver": f.one("by"),
        "method": f.choice("via", APPROVAL_METHODS),
        "reference": f.one("url"),
        "comment": f.one("comment"),
        "environment": f.one("environment"),
        "approvedAt": f.time("when"),
    }
    f.done("by, via (environment | pull-request | manual), url, comment, environment, when")
    out = _merge(base, fields)
    if not out.get("approver"):
        raise EvidenceError("--field by", "an approval record needs who approved", "add --field by=<GitHub login>")
    out.setdefault("method", "environment")
    return out


def _environment(v: str | None, what: str) -> str:
    v = v or DEFAULT_ENVIRONMENT
    if not _ENVIRONMENT.match(v):
        raise EvidenceError(what, f"{v!r} is not an environment name", "use letters, digits, '.', '_' or '-'")
    return v


def _deployment(f: _Fields, base: dict[str, Any], subject: str) -> dict[str, Any]:
    env = _environment(f.one("environment", base.get("environment")), "--field environment")
    frm = f.one("from")
    if frm not in (None, "none"):
        check_digest(frm, "--field from")
    fields = {
        "environment": env,
        "alias": f.one("alias"),
        "version": f.one("version"),
        "from": sha(frm) if frm not in (None, "none") else None,
        "deployedAt": f.time("when"),
    }
    f.done("environment, alias, from (the digest it replaced, or none), version, when")
    out = _merge(base, fields)
    out.setdefault("alias", env)
    out.setdefault("from", None)
    out["to"] = sha(subject)
    return out


def _observation(f: _Fields, base: dict[str, Any], subject: str) -> dict[str, Any]:
    running = [check_digest(d, "--field running") for d in f.many("running")] or [subject]
    fields = {
        "environment": _environment(f.one("environment", base.get("environment")), "--field environment"),
        "cluster": f.one("cluster"),
        "observedAt": f.time("when"),
    }
    f.done("environment, cluster, running (repeatable digests; default the subject), when")
    out = _merge(base, fields)
    out.setdefault("running", [sha(d) for d in running])
    out.setdefault("pods", [])
    return out


def _review(f: _Fields, base: dict[str, Any], subject: str) -> dict[str, Any]:
    fields = {
        "reviewer": f.one("by"),
        "outcome": f.choice("outcome", REVIEW_OUTCOMES),
        "comment": f.one("comment"),
        "reference": f.one("url"),
        "environment": f.one("environment"),
        "reviewedAt": f.time("when"),
    }
    f.done(f"by, outcome ({' | '.join(REVIEW_OUTCOMES)}), comment, url, environment, when")
    out = _merge(base, fields)
    if not out.get("reviewer") or not out.get("outcome"):
        raise EvidenceError(
            "--field by/outcome",
            "a review record needs who reviewed and the outcome",
            "add --field by=<login> --field outcome=keep",
        )
    return out


def _rollback(f: _Fields, base: dict[str, Any], subject: str) -> dict[str, Any]:
    env = _environment(f.one("environment", base.get("environment")), "--field environment")
    frm = f.one("from")
    if frm not in (None, "none"):
        check_digest(frm, "--field from")
    fields = {
        "environment": env,
        "reason": f.choice("reason", ROLLBACK_REASONS),
        "version": f.one("version"),
        "fromVersion": f.one("from_version"),
        "from": sha(frm) if frm not in (None, "none") else None,
        "analysis": {
            k: v
            for k, v in (
                ("name", f.one("analysis")),
                ("status", f.one("analysis_status")),
                ("message", f.one("analysis_message")),
            )
            if v
        }
        or None,
        "message": f.one("message"),
        "rolledBackAt": f.time("when"),
    }
    f.done(
        "environment, reason (analysis-failed | timeout | aborted | manual), version (what serves now), "
        "from (the digest that failed or was replaced), from_version, analysis, analysis_status, analysis_message, "
        "message, when"
    )
    out = _merge(base, fields)
    if not out.get("reason"):
        raise EvidenceError(
            "--field reason", "a rollback record needs why", f"add --field reason=<{' | '.join(ROLLBACK_REASONS)}>"
        )
    out.setdefault("from", None)
    out["to"] = sha(subject)
    return out


def _drift(f: _Fields, base: dict[str, Any], subject: str) -> dict[str, Any]:
    """Written by the drift job (stacks/monitoring/drift.py) with --predicate; fields may add to it."""
    fields = {"measuredAt": f.time("when"), "score": f.one("score"), "threshold": f.one("threshold")}
    f.done("when, score, threshold")
    out = _merge(base, {k: v for k, v in fields.items() if v is not None})
    if out.get("score") is None or out.get("threshold") is None:
        raise EvidenceError("--field score/threshold", "a drift record needs its score and threshold", "add both")
    out["drifted"] = float(out["score"]) >= float(out["threshold"])
    return out


BUILDERS: dict[str, Callable[[_Fields, dict[str, Any], str], dict[str, Any]]] = {
    "provenance": _provenance,
    "evaluation": _evaluation,
    "approval": _approval,
    "deployment": _deployment,
    "observation": _observation,
    "review": _review,
    "rollback": _rollback,
    "drift": _drift,
}
# The predicate field that says when the thing happened (defaults to when it was recorded).
WHEN_FIELD = {
    "evaluation": "evaluatedAt",
    "approval": "approvedAt",
    "deployment": "deployedAt",
    "observation": "observedAt",
    "review": "reviewedAt",
    "rollback": "rolledBackAt",
    "drift": "measuredAt",
}


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise EvidenceError("KIND", f"{kind!r} is not a record kind", f"use one of {', '.join(KINDS)}")
    return kind


def build_predicate(
    kind: str, digest: str, fields: dict[str, Any], base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The predicate of a KIND record about `digest`, from --field values over a --predicate file."""
    check_kind(kind)
    check_digest(digest)
    return BUILDERS[kind](_Fields(kind, fields), dict(base or {}), digest)


def statement(model: str, digests: list[str], kind: str, predicate: dict[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1 about the model's OCI artifact(s)."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model, "digest": sha(d)} for d in digests],
        "predicateType": PREDICATE_TYPES[kind],
        "predicate": predicate,
    }
