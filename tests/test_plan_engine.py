"""The offline Plan engine: what it records, and that two plans in one process don't leak."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from mlplatform.stacks.plan.offline import SECRET, Plan, run_offline


class _Box(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:test:Box", name, None, opts)
        bucket = aws.s3.Bucket(f"{name}-bucket", opts=pulumi.ResourceOptions(parent=self, protect=True))
        pw = random.RandomPassword(f"{name}-pw", length=24, special=False, opts=pulumi.ResourceOptions(parent=self))
        aws.ssm.Parameter(f"{name}-param", type="SecureString", value=pw.result,
                          opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket]))
        aws.iam.Policy(f"{name}-policy", policy=bucket.arn.apply(lambda a: json.dumps({"Resource": a})),
                       opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True))
        self.password = pw.result
        self.register_outputs({})


def _program(name: str = "box"):
    def program():
        box = _Box(name)
        pulumi.export("password", box.password)
        pulumi.export("zones", aws.get_availability_zones().names)
    return program


def test_records_types_parents_options_and_masks_secrets():
    plan = run_offline(_program(), region="eu-west-1", stack="dev", project="proj")
    by_name = {r.name: r for r in plan.resources}
    box = by_name["box"]
    assert box.urn == "urn:pulumi:dev::proj::mlplatform:test:Box::box" and not box.custom and box.parent is None
    bucket = by_name["box-bucket"]
    assert bucket.urn == "urn:pulumi:dev::proj::mlplatform:test:Box$aws:s3/bucket:Bucket::box-bucket"
    assert bucket.parent == box.urn and bucket.custom and bucket.protect and not bucket.retain_on_delete
    param = by_name["box-param"]
    assert param.inputs["value"] == SECRET and param.inputs["type"] == "SecureString"
    assert bucket.urn in param.depends_on
    policy = by_name["box-policy"]
    assert policy.retain_on_delete and not policy.protect
    assert json.loads(policy.inputs["policy"])["Resource"].startswith("arn:aws:s3:::box-bucket")
    # A generated password is secret in outputs too, never in clear.
    assert plan.outputs["password"] == SECRET
    assert plan.outputs["zones"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert "box-pw" in by_name and "result" not in by_name["box-pw"].inputs


def test_two_plans_in_one_process_do_not_leak():
    first = run_offline(_program("a"), region="us-east-1")
    second = run_offline(_program("b"), region="eu-west-1")
    assert {r.name for r in first.resources} == {"a", "a-bucket", "a-pw", "a-param", "a-policy"}
    assert {r.name for r in second.resources} == {"b", "b-bucket", "b-pw", "b-param", "b-policy"}
    assert len(second.outputs["zones"]) == 3
    again = run_offline(_program("a"), region="us-east-1")
    assert again.to_dict() == first.to_dict()


def test_json_round_trip_keeps_the_contract():
    plan = run_offline(_program(), region="us-east-1")
    data = json.loads(plan.to_json())
    assert set(data) >= {"profile", "resources", "summary"}
    assert data["summary"] == {"add": len(plan.resources)}
    for r in data["resources"]:
        # The original contract, plus (additions only) every other resource option the engine sees.
        assert set(r) == {"urn", "type", "name", "parent", "custom", "inputs", "protect", "retain_on_delete", "depends_on",
                          "ignore_changes", "replace_on_changes", "delete_before_replace", "custom_timeouts", "aliases",
                          "provider"}
    assert Plan.from_dict(data).to_dict() == plan.to_dict()


def test_program_errors_propagate():
    def broken():
        raise ValueError("network.az_count: bad; fix it")

    try:
        run_offline(broken, region="us-east-1")
    except ValueError as e:
        assert str(e) == "network.az_count: bad; fix it"
    else:  # pragma: no cover
        raise AssertionError("error was swallowed")


def test_program_warnings_are_kept_on_the_plan():
    def program():
        pulumi.log.warn("runners: no GitHub App secret set; runners stay unregistered")
        aws.s3.Bucket("b")

    plan = run_offline(program, region="us-east-1")
    assert plan.warnings == ["runners: no GitHub App secret set; runners stay unregistered"]


def test_records_every_resource_option_the_engine_sees():
    def program():
        east = aws.Provider("east", region="us-east-1")
        aws.s3.Bucket("b", opts=pulumi.ResourceOptions(
            provider=east, ignore_changes=["tags"], replace_on_changes=["bucket"], delete_before_replace=True,
            custom_timeouts=pulumi.CustomTimeouts(create="30m", delete="1h"),
            aliases=[pulumi.Alias(name="old-b"), "urn:pulumi:dev::mlplatform::aws:s3/bucket:Bucket::older"]))
        aws.s3.Bucket("plain")

    by_name = {r.name: r for r in run_offline(program, region="us-east-1").resources}
    b, plain = by_name["b"], by_name["plain"]
    assert b.ignore_changes == ["tags"] and b.replace_on_changes == ["bucket"] and b.delete_before_replace is True
    assert b.custom_timeouts == {"create": "30m", "delete": "1h"}
    assert {"name": "old-b"} in b.aliases and "urn:pulumi:dev::mlplatform::aws:s3/bucket:Bucket::older" in b.aliases
    assert b.provider == "urn:pulumi:dev::mlplatform::pulumi:providers:aws::east"
    assert plain.ignore_changes == [] and plain.replace_on_changes == [] and plain.delete_before_replace is False
    assert plain.custom_timeouts == {} and plain.provider is None
