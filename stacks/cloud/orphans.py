"""The orphan sweep: AWS resources a stack's ownership tags claim that its state no longer tracks.

After `destroy`, Kubernetes controllers can leave things Pulumi never knew about: load balancers and
security groups of Services/Ingresses, ENIs, nodes launched by Karpenter, log groups. Every one that
carries both ownership tags, `mlplatform:managed-by = mlplatform` and `mlplatform:stack = <stack>`,
is found here with boto3 and listed or deleted. Anything missing either tag is never touched.

Deletion order: instances (waited until terminated), load balancers, detached ENIs, security groups
(cross-references revoked first), log groups. What AWS refuses (still in use) is reported, not retried:
run the sweep again a few minutes later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlplatform.components.conventions import MANAGED_BY

from .doctor import aws_client

KINDS = ("instance", "load-balancer", "network-interface", "security-group", "log-group")


@dataclass(frozen=True)
class Orphan:
    kind: str  # one of KINDS
    id: str  # instance id, load balancer ARN, ENI id, security group id, log group name
    name: str = ""


@dataclass
class SweepResult:
    deleted: list[Orphan] = field(default_factory=list)
    failed: list[tuple[Orphan, str]] = field(default_factory=list)


def ownership_tags(stack: str) -> dict[str, str]:
    return {"mlplatform:managed-by": MANAGED_BY, "mlplatform:stack": stack}


def _owned(tags: Any, stack: str) -> bool:
    """`tags` as a list of {Key, Value} or a mapping; both ownership tags must match."""
    if isinstance(tags, list):
        tags = {t["Key"]: t["Value"] for t in tags}
    return all((tags or {}).get(k) == v for k, v in ownership_tags(stack).items())


def _ec2_filters(stack: str) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in ownership_tags(stack).items()]


def _name(tags: list[dict[str, str]] | None, default: str = "") -> str:
    return next((t["Value"] for t in tags or [] if t["Key"] == "Name"), default)


def find_orphans(region: str, stack: str, endpoint_url: str | None = None) -> list[Orphan]:
    """Every resource of KINDS in `region` tagged as owned by `stack`, in deletion order."""
    ec2 = aws_client("ec2", region, endpoint_url)
    found: list[Orphan] = []
    for page in ec2.get_paginator("describe_instances").paginate(
        Filters=_ec2_filters(stack)
        + [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    ):
        for res in page["Reservations"]:
            found += [Orphan("instance", i["InstanceId"], _name(i.get("Tags"))) for i in res["Instances"]]

    elbv2 = aws_client("elbv2", region, endpoint_url)
    lbs = [lb for page in elbv2.get_paginator("describe_load_balancers").paginate() for lb in page["LoadBalancers"]]
    for start in range(0, len(lbs), 20):  # describe_tags takes at most 20 ARNs
        batch = {lb["LoadBalancerArn"]: lb for lb in lbs[start : start + 20]}
        for desc in elbv2.describe_tags(ResourceArns=list(batch))["TagDescriptions"]:
            if _owned(desc.get("Tags"), stack):
                found.append(
                    Orphan("load-balancer", desc["ResourceArn"], batch[desc["ResourceArn"]]["LoadBalancerName"])
                )

    for page in ec2.get_paginator("describe_network_interfaces").paginate(Filters=_ec2_filters(stack)):
        found += [
            Orphan("network-interface", n["NetworkInterfaceId"], n.get("Description", ""))
            for n in page["NetworkInterfaces"]
        ]
    for page in ec2.get_paginator("describe_security_groups").paginate(Filters=_ec2_filters(stack)):
        found += [
            Orphan("security-group", g["GroupId"], g["GroupName"])
            for g in page["SecurityGroups"]
            if g["GroupName"] != "default"
        ]

    logs = aws_client("logs", region, endpoint_url)
    for page in logs.get_paginator("describe_log_groups").paginate():
        for g in page["logGroups"]:
            tags = logs.list_tags_for_resource(resourceArn=g["arn"].removesuffix(":*")).get("tags", {})
            if _owned(tags, stack):
                found.append(Orphan("log-group", g["logGroupName"], g["logGroupName"]))
    return found


def delete_orphans(orphans: list[Orphan], region: str, endpoint_url: str | None = None) -> SweepResult:
    """Delete what `find_orphans` returned, in its order; AWS refusals are collected, not raised."""
    from botocore.exceptions import ClientError, WaiterError

    result = SweepResult()
    ec2 = aws_client("ec2", region, endpoint_url)
    by_kind = {k: [o for o in orphans if o.kind == k] for k in KINDS}

    def attempt(o: Orphan, call: Any, **kwargs: Any) -> None:
        try:
            call(**kwargs)
            result.deleted.append(o)
        except ClientError as e:
            err = e.response.get("Error", {})
            result.failed.append((o, f"{err.get('Code', 'error')}: {err.get('Message', '')}".rstrip(": ")))

    instances = by_kind["instance"]
    if instances:
        instance_ids = [o.id for o in instances]
        try:
            ec2.terminate_instances(InstanceIds=instance_ids)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=instance_ids, WaiterConfig={"Delay": 5, "MaxAttempts": 60}
            )
            result.deleted += instances
        except (ClientError, WaiterError) as e:
            result.failed += [(o, f"not terminated: {e}".splitlines()[0]) for o in instances]

    elbv2 = aws_client("elbv2", region, endpoint_url)
    for o in by_kind["load-balancer"]:
        attempt(o, elbv2.delete_load_balancer, LoadBalancerArn=o.id)
    for o in by_kind["network-interface"]:
        attempt(o, ec2.delete_network_interface, NetworkInterfaceId=o.id)

    groups = by_kind["security-group"]
    if groups:
        # Groups that reference each other can't be deleted until those rules are gone.
        ids = {o.id for o in groups}
        described = []
        for gid in sorted(ids):
            try:
                described += ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"]
            except ClientError:
                pass  # already gone: its delete below reports it
        for g in described:
            for direction, revoke in (
                ("IpPermissions", ec2.revoke_security_group_ingress),
                ("IpPermissionsEgress", ec2.revoke_security_group_egress),
            ):
                refs = [
                    p
                    for p in g.get(direction, [])
                    if any(u.get("GroupId") in ids for u in p.get("UserIdGroupPairs", []))
                ]
                if refs:
                    try:
                        revoke(GroupId=g["GroupId"], IpPermissions=refs)
                    except ClientError:
                        pass  # the delete below reports what still blocks it
        for o in groups:
            attempt(o, ec2.delete_security_group, GroupId=o.id)

    logs = aws_client("logs", region, endpoint_url)
    for o in by_kind["log-group"]:
        attempt(o, logs.delete_log_group, logGroupName=o.id)
    return result
