"""`mlplatform check`: the built-in rules, plus scanners we did not write, merged into one report.

With the `scan` extra installed (`pip install 'mlplatform[scan]'`), checkov reads the Terraform plan
export and the Kubernetes YAML export of the Plan (one run, both frameworks), and kubernetes-validate
checks every Kubernetes object against the pinned Kubernetes version's schemas, and parliament (duo-labs'
IAM linter, with AWS's action database) reads every policy document of the Plan. Their findings join the
rules' findings, map back to Pulumi URNs, and take the same waivers. The report counts findings per
severity; `blocking()` (unwaived high findings) decides the exit code. `to_sarif()` writes SARIF 2.1.0
for GitHub code scanning.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..plan import export
from ..plan.offline import Plan
from .policy import SEVERITIES, Finding, Waiver, apply_waivers, blocking, counts, evaluate

SCAN_EXTRA_HINT = "install the scan extra: pip install 'mlplatform[scan]' (checkov, kubernetes-validate, parliament)"
CHECKOV_TIMEOUT_S = 900
# checkov runs offline without a platform key, so it reports no severities: these checks mirror the
# built-in high rules (data exposure, encryption, credentials, privilege); every other failed check is medium.
CHECKOV_HIGH = {
    "CKV_AWS_1",
    "CKV_AWS_3",
    "CKV_AWS_8",
    "CKV_AWS_16",
    "CKV_AWS_17",
    "CKV_AWS_19",
    "CKV_AWS_20",
    "CKV_AWS_24",
    "CKV_AWS_25",
    "CKV_AWS_41",
    "CKV_AWS_46",
    "CKV_AWS_53",
    "CKV_AWS_54",
    "CKV_AWS_55",
    "CKV_AWS_56",
    "CKV_AWS_57",
    "CKV_AWS_58",
    "CKV_AWS_62",
    "CKV_AWS_63",
    "CKV_AWS_79",
    "CKV_AWS_133",
    "CKV_AWS_260",
    "CKV_AWS_277",
    "CKV_AWS_286",
    "CKV_AWS_287",
    "CKV_AWS_288",
    "CKV_AWS_289",
    "CKV_AWS_293",
    "CKV2_AWS_6",
    "CKV2_AWS_69",
    "CKV_K8S_1",
    "CKV_K8S_2",
    "CKV_K8S_16",
    "CKV_K8S_17",
    "CKV_K8S_18",
    "CKV_K8S_19",
    "CKV_K8S_27",
}
_CHECKOV_SEVERITY = {"CRITICAL": "high", "HIGH": "high", "MEDIUM": "medium", "LOW": "low", "INFO": "info"}
SARIF_LEVEL = {"high": "error", "medium": "warning", "low": "note", "info": "note"}
SARIF_SECURITY_SEVERITY = {"high": "8.0", "medium": "5.0", "low": "3.0", "info": "0.0"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


class ScanError(RuntimeError):
    """A scanner ran but its answer could not be read."""


@dataclass
class ScannerRun:
    """What one external scanner did: `status` ran / missing / skipped / failed, with counts."""

    name: str
    status: str
    message: str = ""
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            **self.details,
        }


@dataclass
class Report:
    """The merged findings of one stack, after waivers."""

    profile: str
    findings: list[Finding]
    unused_waivers: list[Waiver] = field(default_factory=list)
    scanners: list[ScannerRun] = field(default_factory=list)
    checkov: CheckovResult | None = None  # checkov's raw answer (every passed and failed check)
    # Release -> free-form Helm value keys the helm-values rule did not look below (stacks/analyses/chart_rules.py).
    helm_values_unchecked: dict[str, list[str]] = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        return counts(self.findings)

    def blocking(self) -> list[Finding]:
        return blocking(self.findings)

    @property
    def exit_code(self) -> int:
        return 3 if self.blocking() else 0

    def to_dict(self) -> dict[str, Any]:
        """The `check --json` contract."""
        return {
            "profile": self.profile,
            "passed": not self.blocking(),
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
            "unused_waivers": [w.__dict__ for w in self.unused_waivers],
            "scanners": [s.to_dict() for s in self.scanners],
            "helm_values_unchecked": self.helm_values_unchecked,
        }

    def to_sarif(self, artifact: str = "Pulumi.yaml") -> dict[str, Any]:
        """SARIF 2.1.0: one run per tool; every finding located at `artifact` (the stack's config file)
        and at its Pulumi URN; waived findings carry an external suppression with the waiver's reason."""
        runs = []
        for source in dict.fromkeys(f.source for f in self.findings) or ["mlplatform"]:
            mine = [f for f in self.findings if f.source == source]
            rules: dict[str, dict[str, Any]] = {}
            for f in mine:
                rules.setdefault(
                    f.rule,
                    {
                        "id": f.rule,
                        "name": f.rule,
                        "shortDescription": {"text": f.title or f.rule},
                        "help": {"text": f.fix},
                        "defaultConfiguration": {"level": SARIF_LEVEL[f.severity]},
                        "properties": {
                            "security-severity": SARIF_SECURITY_SEVERITY[f.severity],
                            "tags": ["security", f.source],
                        },
                    },
                )
            results = []
            seen: dict[tuple[str, str], int] = {}
            for f in mine:
                # Code scanning follows an alert from run to run by this fingerprint: the rule and the
                # resource (and, where one rule finds several things on one resource, their order), never
                # the message text, so rewording a message keeps every alert where it is.
                nth = seen[(f.rule, f.urn)] = seen.get((f.rule, f.urn), -1) + 1
                result: dict[str, Any] = {
                    "ruleId": f.rule,
                    "ruleIndex": list(rules).index(f.rule),
                    "level": SARIF_LEVEL[f.severity],
                    "message": {"text": f"{f.name}: {f.message}. Fix: {f.fix}"},
                    "locations": [
                        {
                            "physicalLocation": {"artifactLocation": {"uri": artifact}, "region": {"startLine": 1}},
                            "logicalLocations": [{"fullyQualifiedName": f.urn, "name": f.name, "kind": "resource"}],
                        }
                    ],
                    "partialFingerprints": {
                        "mlplatformFinding/v2": hashlib.sha256(f"{source}|{f.rule}|{f.urn}|{nth}".encode()).hexdigest()
                    },
                    "properties": {
                        "severity": f.severity,
                        "urn": f.urn,
                        **({"address": f.address} if f.address else {}),
                    },
                }
                if f.waived:
                    result["suppressions"] = [{"kind": "external", "justification": f.waived}]
                results.append(result)
            runs.append(
                {
                    "tool": {
                        "driver": {
                            "name": source,
                            "informationUri": _TOOL_URI.get(source, _TOOL_URI["mlplatform"]),
                            "rules": list(rules.values()),
                        }
                    },
                    "results": results,
                }
            )
        return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}


_TOOL_URI = {
    "mlplatform": "https://github.com/mlplatform/mlplatform",
    "checkov": "https://www.checkov.io",
    "kubernetes-validate": "https://github.com/willthames/kubernetes-validate",
    "parliament": "https://github.com/duo-labs/parliament",
}


# -- checkov -------------------------------------------------------------------------------------
def checkov_command() -> list[str] | None:
    """How to run checkov: this Python's (the scan extra), else a `checkov` on PATH, else None."""
    if importlib.util.find_spec("checkov") is not None:
        return [sys.executable, "-m", "checkov.main"]
    exe = shutil.which("checkov")
    return [exe] if exe else None


@dataclass
class CheckovResult:
    """checkov's checks of one run, by framework: each check as checkov reports it (check_id, resource,
    file_path, check_result...)."""

    passed: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    summaries: dict[str, dict[str, Any]]

    def evaluated_types(self, framework: str = "terraform_plan") -> dict[str, int]:
        """Checks run per resource type (Terraform type, or Kubernetes kind)."""
        out: dict[str, int] = {}
        for c in self.passed + self.failed:
            if c.get("check_type") == framework:
                kind = str(c.get("resource", "")).split(".", 1)[0]
                out[kind] = out.get(kind, 0) + 1
        return out


def run_checkov(
    terraform_plan: str | Path | None, k8s_yaml: str | Path | None, command: list[str] | None = None
) -> CheckovResult:
    """One checkov run over the files given (terraform_plan and/or kubernetes frameworks), offline."""
    command = command or checkov_command()
    if command is None:
        raise ScanError(f"checkov is not installed; {SCAN_EXTRA_HINT}")
    files, frameworks = [], []
    if terraform_plan:
        files.append(str(terraform_plan))
        frameworks.append("terraform_plan")
    if k8s_yaml:
        files.append(str(k8s_yaml))
        frameworks.append("kubernetes")
    if not files:
        return CheckovResult([], [], [], {})
    args = [*command, "--file", *files, "--framework", *frameworks, "--output", "json", "--skip-download"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_UPDATE_CHECK": "1", "LOG_LEVEL": "ERROR"}
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise ScanError(f"checkov did not finish within {CHECKOV_TIMEOUT_S} s") from None
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ScanError(f"checkov exited {proc.returncode} without a JSON report: {' | '.join(tail)}") from None
    reports = data if isinstance(data, list) else [data]
    result = CheckovResult([], [], [], {})
    for rep in reports:
        if not isinstance(rep, dict) or "results" not in rep:
            continue  # an empty run answers a bare summary
        framework = rep.get("check_type", "")
        result.summaries[framework] = rep.get("summary", {})
        for key, bucket in (
            ("passed_checks", result.passed),
            ("failed_checks", result.failed),
            ("skipped_checks", result.skipped),
        ):
            for c in rep["results"].get(key, []):
                bucket.append({**c, "check_type": framework})
    return result


def _checkov_severity(check: dict[str, Any]) -> str:
    sev = _CHECKOV_SEVERITY.get(str(check.get("severity") or "").upper())
    if sev:
        return sev
    return "high" if check.get("check_id") in CHECKOV_HIGH else "medium"


def checkov_findings(plan: Plan, result: CheckovResult) -> list[Finding]:
    """checkov's failed checks as findings on the Plan's resources (Terraform address or Kubernetes
    `Kind.namespace.name` -> URN)."""
    by_address = {a: u for u, a in export.addresses(plan).items()}
    by_object = {export.k8s_object_id(m): r.urn for r, m in export.kubernetes_objects(plan)}
    # checkov's graph checks name the pods of a workload `Pod.<namespace>.<workload>.<labels>`
    by_pod = {
        f"Pod.{(m.get('metadata') or {}).get('namespace', 'default')}.{(m.get('metadata') or {}).get('name')}.": r.urn
        for r, m in export.kubernetes_objects(plan)
        if isinstance((m.get("spec") or {}).get("template"), dict)
    }
    names = {r.urn: r.name for r in plan.resources}
    out = []
    for c in result.failed:
        resource = str(c.get("resource", ""))
        pod_of = next((u for prefix, u in by_pod.items() if resource.startswith(prefix)), None)
        urn = by_address.get(resource) or by_object.get(resource) or pod_of or resource
        out.append(
            Finding(
                rule=str(c.get("check_id")),
                severity=_checkov_severity(c),
                urn=urn,
                name=names.get(urn, resource),
                message=str(c.get("check_name", "")).rstrip("."),
                fix=c.get("guideline") or f"see {c.get('check_id')} in checkov's policy index (www.checkov.io)",
                source="checkov",
                title=str(c.get("check_name", "")),
                address=resource if c.get("check_type") == "terraform_plan" else None,
            )
        )
    return out


# -- kubernetes-validate -------------------------------------------------------------------------
def kubernetes_validate_findings(plan: Plan, version: str | None = None) -> tuple[list[Finding], ScannerRun]:
    """kubernetes-validate (strict: unknown fields are errors) over every Kubernetes object of the Plan.
    Custom resources (Karpenter, Prometheus operator, Argo) have no schema there and are counted as skipped."""
    try:
        import kubernetes_validate
        from kubernetes_validate import utils as kv
    except ImportError:
        return [], ScannerRun(
            "kubernetes-validate", "missing", f"kubernetes-validate is not installed; {SCAN_EXTRA_HINT}"
        )
    from mlplatform.components.versions import KUBERNETES_VERSION

    version = version or f"{KUBERNETES_VERSION}.0"
    findings, passed, skipped = [], 0, 0
    for r, m in export.kubernetes_objects(plan):
        try:
            kubernetes_validate.validate(m, version, strict=True)
            passed += 1
        except kv.SchemaNotFoundError:
            skipped += 1
        except kv.ValidationError as e:
            where = ".".join(str(p) for p in e.path) or "(object)"
            findings.append(
                Finding(
                    rule="kubernetes-validate",
                    severity="high",
                    urn=r.urn,
                    name=r.name,
                    message=f"{m.get('kind')} {m.get('metadata', {}).get('name')}: {where}: {e.message}",
                    fix=f"make the object valid for Kubernetes {version}",
                    source="kubernetes-validate",
                    title="Kubernetes object is valid for the pinned Kubernetes version",
                )
            )
    run = ScannerRun(
        "kubernetes-validate", "ran", f"Kubernetes {version}", passed=passed, failed=len(findings), skipped=skipped
    )
    return findings, run


# -- parliament (IAM) ----------------------------------------------------------------------------
# Every policy document of a plan: resource type -> the input holding it, and whether it is a trust
# (role) policy, which has no Resource by design.
POLICY_DOCUMENTS: dict[str, tuple[str, bool]] = {
    "aws:iam/policy:Policy": ("policy", False),
    "aws:iam/rolePolicy:RolePolicy": ("policy", False),
    "aws:iam/userPolicy:UserPolicy": ("policy", False),
    "aws:iam/groupPolicy:GroupPolicy": ("policy", False),
    "aws:iam/role:Role": ("assumeRolePolicy", True),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy", False),
    "aws:kms/key:Key": ("policy", False),
    "aws:sqs/queuePolicy:QueuePolicy": ("policy", False),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy", False),
}
PARLIAMENT_SEVERITY = {"CRITICAL": "high", "HIGH": "high", "MEDIUM": "medium", "LOW": "low"}
# A trust policy's resource is the role itself. parliament lints identity policies and calls a
# statement without Resource malformed, so trust statements are linted with this resource added.
TRUST_RESOURCE = "arn:aws:iam::*:role/*"


def policy_documents(plan: Plan) -> list[tuple[Any, str, str]]:
    """(resource, input name, policy JSON) for every policy document in the plan whose text is known."""
    out = []
    for r in plan.resources:
        where = POLICY_DOCUMENTS.get(r.type)
        if where and isinstance(r.inputs.get(where[0]), str) and r.inputs[where[0]].lstrip().startswith("{"):
            out.append((r, where[0], r.inputs[where[0]]))
    return out


def _linted_text(text: str, trust: bool) -> str:
    if not trust:
        return text
    doc = json.loads(text)
    statements = doc.get("Statement")
    for st in statements if isinstance(statements, list) else [statements]:
        if isinstance(st, dict) and "Resource" not in st and "NotResource" not in st:
            st["Resource"] = TRUST_RESOURCE
    return json.dumps(doc)


def parliament_findings(plan: Plan) -> tuple[list[Finding], ScannerRun]:
    """parliament over every policy document (inline, managed, trust, bucket, key, queue policies):
    unknown actions, malformed ARNs, condition keys that don't apply. Rule ids are `parliament:<ISSUE>`."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # parliament 1.6 imports pkg_resources
            import parliament
            from parliament import analyze_policy_string
    except ImportError:
        return [], ScannerRun("parliament", "missing", f"parliament is not installed; {SCAN_EXTRA_HINT}")
    findings, clean = [], 0
    documents = policy_documents(plan)
    for r, field_name, text in documents:
        trust = POLICY_DOCUMENTS[r.type][1]
        result = analyze_policy_string(_linted_text(text, trust))
        if not result.findings:
            clean += 1
        for f in result.findings:
            meta = parliament.config.get(f.issue, {})
            severity = PARLIAMENT_SEVERITY.get(str(meta.get("severity", "")).upper(), "medium")
            detail = f.detail if isinstance(f.detail, str) else json.dumps(f.detail, default=str)
            findings.append(
                Finding(
                    rule=f"parliament:{f.issue}",
                    severity=severity,
                    urn=r.urn,
                    name=r.name,
                    message=f"{field_name}: {meta.get('title', f.issue)}: {detail}",
                    fix=meta.get("description") or "fix the policy document, or waive the finding with the reason",
                    source="parliament",
                    title=meta.get("title", f.issue),
                )
            )
    run = ScannerRun(
        "parliament", "ran", f"{len(documents)} policy documents", passed=clean, failed=len(documents) - clean
    )
    return findings, run


# -- the whole check -----------------------------------------------------------------------------
def stack_waivers(spec: Any) -> list[Waiver]:
    """The waivers of a stack: its profile's (documented trade-offs, always kept) and then its config's
    (a config's `waivers:` list replaces the profile's when merged, so the profile's are added back)."""
    from ..config.spec import Waiver as SpecWaiver
    from ..config.spec import profile_defaults

    out: list[Waiver] = []
    shipped = [(SpecWaiver(**w), "profile") for w in profile_defaults(spec.profile).get("waivers") or []]
    for w, origin in shipped + [(w, "config") for w in spec.waivers]:
        if all((o.rule, o.resource) != (w.rule, w.resource) for o in out):
            out.append(Waiver(w.rule, w.resource, w.reason, origin))
    return out


def check(
    plan: Plan,
    waivers: Iterable[Any] = (),
    region: str | None = None,
    scanners: bool = True,
    workdir: str | Path | None = None,
    extra: Iterable[Finding] = (),
) -> Report:
    """Built-in rules (+ checkov and kubernetes-validate when `scanners` and installed), then waivers.
    `extra`: findings about what the stack renders outside the Plan (stacks/project/serving_check.py)."""
    findings = evaluate(plan) + list(extra)
    runs: list[ScannerRun] = []
    checkov_result: CheckovResult | None = None
    if scanners:
        command = checkov_command()
        if command is None:
            runs.append(ScannerRun("checkov", "missing", f"checkov is not installed; {SCAN_EXTRA_HINT}"))
        else:
            with tempfile.TemporaryDirectory(dir=workdir) as tmp:
                tf_path = Path(tmp, "plan.tfplan.json")
                tf_path.write_text(export.terraform_plan_json(plan, region))
                k8s = export.k8s_yaml(plan)
                k8s_path = Path(tmp, "objects.k8s.yaml") if k8s else None
                if k8s_path:
                    k8s_path.write_text(k8s)
                try:
                    checkov_result = run_checkov(tf_path, k8s_path, command)
                except ScanError as e:
                    runs.append(ScannerRun("checkov", "failed", str(e)))
                else:
                    findings += checkov_findings(plan, checkov_result)
                    runs.append(
                        ScannerRun(
                            "checkov",
                            "ran",
                            " + ".join(checkov_result.summaries) or "nothing to scan",
                            passed=len(checkov_result.passed),
                            failed=len(checkov_result.failed),
                            skipped=len(checkov_result.skipped),
                            details={
                                "checks_by_type": checkov_result.evaluated_types(),
                                "unmapped_types": export.unmapped_types(plan),
                            },
                        )
                    )
        kv_findings, kv_run = kubernetes_validate_findings(plan)
        findings += kv_findings
        runs.append(kv_run)
        iam_findings, iam_run = parliament_findings(plan)
        findings += iam_findings
        runs.append(iam_run)
    else:
        runs += [
            ScannerRun(name, "skipped", "--no-scanners") for name in ("checkov", "kubernetes-validate", "parliament")
        ]
    findings, unused = apply_waivers(findings, waivers)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (bool(f.waived), order.get(f.severity, 9), f.source != "mlplatform", f.rule, f.name))
    from .chart_rules import unchecked_values

    return Report(
        profile=plan.profile,
        findings=findings,
        unused_waivers=unused,
        scanners=runs,
        checkov=checkov_result,
        helm_values_unchecked=unchecked_values(plan),
    )


__all__ = [
    "CheckovResult",
    "Report",
    "ScanError",
    "ScannerRun",
    "check",
    "checkov_command",
    "checkov_findings",
    "kubernetes_validate_findings",
    "parliament_findings",
    "policy_documents",
    "run_checkov",
]
