"""Cost: arithmetic on known inputs, gaps never invented, coverage of every type, live prices, CLI."""

from __future__ import annotations

import json

import boto3
import pulumi_aws as aws
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from conftest import plan_of
from test_diff import FULL_FEATURED
from mlplatform.cli.main import cli
from mlplatform.stacks.facts.charts import shared_dir
from mlplatform.stacks.facts.prices import derive_region_prices
from mlplatform.stacks.analyses.cost import (
    FREE, PRICED, USAGE_DEFAULT, estimate, fetch_live_prices, gpu_hour_prices,
    load_prices, load_usage, needed_prices, parse_price_list, price_query, uncovered_types,
)
from mlplatform.stacks.plan.offline import Plan, PlannedResource
from mlplatform.stacks.program import plan
from mlplatform.stacks.config.spec import PROFILES, SpecError, load_spec

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")
SHARED = shared_dir()
SNAPSHOT = SHARED / "pricing" / "aws-prices.json" if SHARED else None


@pytest.fixture(scope="module")
def plans(profile_plans):
    return profile_plans


def small_stack():
    """EKS + 2 system nodes (50 GiB) + one NAT with its IP + a micro database + a KMS key + a bucket."""
    key = aws.kms.Key("key", enable_key_rotation=True)
    aws.eks.Cluster("eks", name="c", role_arn="arn:aws:iam::123456789012:role/c",
                    vpc_config=aws.eks.ClusterVpcConfigArgs(subnet_ids=["subnet-1", "subnet-2"]))
    lt = aws.ec2.LaunchTemplate("system", block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
        device_name="/dev/xvda", ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(volume_size=50, volume_type="gp3"))])
    aws.eks.NodeGroup("system", cluster_name="c", node_role_arn="arn:aws:iam::123456789012:role/n",
                      subnet_ids=["subnet-1"], instance_types=["t3.large"], capacity_type="ON_DEMAND",
                      scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=2, desired_size=2, max_size=3),
                      launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=lt.id, version="1"))
    eip = aws.ec2.Eip("nat", domain="vpc")
    aws.ec2.NatGateway("nat", allocation_id=eip.id, subnet_id="subnet-1")
    aws.rds.Instance("db", engine="postgres", instance_class="db.t4g.micro", allocated_storage=20, multi_az=False,
                     kms_key_id=key.arn)
    aws.s3.Bucket("artifacts")
    aws.iam.Role("role", assume_role_policy="{}")


USAGE = {"gpu_node_hours": {"default": 0}, "cpu_batch": {"node_hours": 0, "instance_type": "m6i.large"},
         "runners": {"cpu_runner_hours": 0, "cpu_runner_instance": "m6i.large", "gpu_runner_hours": 0},
         "nat_gateway_gb": 50, "s3_artifact_gb": 100, "ecr_gb_per_repository": 0,
         "logs_gb_per_month": {}, "rds_backup_gb_beyond_free": 0}


def test_arithmetic_matches_hand_computed_figures():
    report = estimate(plan_of(small_stack), "us-east-1", USAGE)
    by_name = {r.name: r for r in report.resources}
    # us-east-1 list prices from the snapshot: EKS $0.10/h, t3.large $0.0832/h, gp3 $0.08/GB-mo, NAT $0.045/h
    # + $0.045/GB, IPv4 $0.005/h, db.t4g.micro $0.016/h, RDS gp3 $0.115/GB-mo, KMS $1, S3 $0.023/GB-mo.
    assert by_name["eks"].idle == pytest.approx(73.00)  # the NAT gateway and its IP share a name: by type below
    assert by_name["system"].idle == pytest.approx(2 * 730 * 0.0832 + 2 * 50 * 0.08)  # 121.472 + 8.00
    nat = next(r for r in report.resources if r.type == "aws:ec2/natGateway:NatGateway")
    eip = next(r for r in report.resources if r.type == "aws:ec2/eip:Eip")
    assert nat.idle == pytest.approx(32.85) and nat.monthly == pytest.approx(32.85 + 2.25)
    assert eip.idle == pytest.approx(3.65)
    assert by_name["db"].idle == pytest.approx(730 * 0.016 + 20 * 0.115)  # 11.68 + 2.30
    assert by_name["key"].idle == pytest.approx(1.00)
    assert by_name["artifacts"].idle == 0 and by_name["artifacts"].monthly == pytest.approx(2.30)
    assert by_name["role"].free == "IAM is free" and by_name["role"].lines == []
    assert report.idle == pytest.approx(253.952)
    assert report.monthly == pytest.approx(253.952 + 2.25 + 2.30)
    assert report.gaps == [] and report.uncovered == []
    system = by_name["system"].lines
    assert [(x.kind, x.quantity, x.unit_price) for x in system] == [("fixed", 1460, 0.0832), ("storage", 100, 0.08)]
    assert system[0].source.startswith("github.com/aws/karpenter-provider-aws")


def test_gaps_are_reported_and_left_out_of_totals():
    def db():
        aws.rds.Instance("db", engine="postgres", instance_class="db.m6g.large", allocated_storage=100, multi_az=True)

    report = estimate(plan_of(db), "us-west-2", USAGE)  # us-west-2 has no sourced RDS gp3 storage price
    (r,) = report.resources
    instance, storage = r.lines
    assert storage.status == "gap" and storage.unit_price is None and storage.monthly is None
    assert storage.price_key == "rds_gp3_gb_month.multi_az"
    assert instance.monthly == pytest.approx(730 * 0.318)
    assert report.idle == pytest.approx(730 * 0.318) and [x.price_key for _, x in report.gaps] == [storage.price_key]
    assert report.to_dict()["gaps"] == [{"urn": r.urn, "what": storage.what, "price_key": storage.price_key,
                                         "status": "gap"}]
    assert report.headline(idle=True) == f"at least ${730 * 0.318:,.2f}/month (unpriced: rds_gp3_gb_month.multi_az on db)"


def test_not_offered_is_not_a_price():
    book = load_prices("eu-west-1")
    assert book.price("ec2", "g6.xlarge").status == "not_offered"
    assert book.price("ec2", "g5.xlarge").status == "ok" and book.price("ecr_gb_month").status == "gap"
    assert book.price("rds_postgres", "db.r6g.large", "multi_az").value is None  # not in the file: a gap, never a guess


@pytest.mark.parametrize("featured", [False, True], ids=["defaults", "teams-runners-admins"])
@pytest.mark.parametrize("profile", PROFILES)
def test_every_type_in_every_profile_is_priced_or_listed_free(plans, profile, featured):
    the_plan = plan(load_spec(profile, overrides=FULL_FEATURED)) if featured else plans[profile]
    assert uncovered_types(the_plan) == []
    report = estimate(the_plan, "us-east-1")
    for r in report.resources:
        assert bool(r.lines) != bool(r.free), f"{r.type} {r.name}: needs cost lines or a reason, not both"
        if r.type in FREE:
            assert r.free == FREE[r.type]
        elif r.type not in PRICED:
            assert r.free.startswith(("a component", "a Kubernetes object"))


def test_an_unknown_type_is_uncovered_not_free():
    p = Plan("x", [PlannedResource("urn:x", "aws:sagemaker/domain:Domain", "d", None, True, {})])
    assert uncovered_types(p) == ["aws:sagemaker/domain:Domain"]
    assert estimate(p, "us-east-1").uncovered == ["aws:sagemaker/domain:Domain"]


def test_idle_cost_grows_with_the_profile_and_counts_gpu_pools_at_zero(plans):
    idle = {p: estimate(plans[p], "us-east-1").idle for p in PROFILES}
    assert 0 < idle["pragmatic"] < idle["growth"] < idle["full"]
    report = estimate(plans["pragmatic"], "us-east-1")
    gpu = [r for r in report.resources if r.type == "aws:eks/nodeGroup:NodeGroup" and "gpu" in r.name]
    assert gpu and all(r.idle == 0 for r in gpu)  # min 0: no GPU node while idle
    assert sum(r.monthly for r in gpu) == pytest.approx(40 * 0.8048 + 40 / 730 * 200 * 0.08)  # 40 h on g6.xlarge
    comps = report.by_component()
    assert {"Cluster ml-dev", "Network ml-dev"} <= set(comps) and comps["Network ml-dev"]["idle"] == pytest.approx(36.5)


def test_gpu_hour_on_demand_and_spot_range(plans):
    rows = {(g.pool, g.instance_type): g for g in gpu_hour_prices(plans["full"], load_prices("us-east-1"))}
    g6 = rows[("gpu-1x", "g6.xlarge")]
    assert g6.gpus == 1 and g6.on_demand == pytest.approx(0.8048)
    assert g6.spot_low == pytest.approx(0.8048 * (1 - 0.518)) and g6.spot_high == pytest.approx(0.8048 * (1 - 0.481))
    p4d = rows[("gpu-multi", "p4d.24xlarge")]
    assert p4d.gpus == 8 and p4d.on_demand == pytest.approx(21.957642 / 8) and p4d.spot_low is None
    assert "no spot observation" in p4d.note
    eu = gpu_hour_prices(plans["pragmatic"], load_prices("eu-central-1"))
    assert all(g.spot_low is None for g in eu)  # the spot observation is us-east-1 only: not reused elsewhere


# -- price files ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("region", REGIONS)
def test_price_files_keep_source_date_and_gaps(region):
    book = load_prices(region)
    data = book.data
    assert data["region"] == region and data["snapshot_date"] == "2026-10-04" and data["hours_per_month"] == 730

    def leaves(node, path=()):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from leaves(v, (*path, k))
        else:
            yield ".".join(path), node

    for key, value in leaves({k: v for k, v in data["prices"].items() if k != "ec2_all"}):
        if value is None:
            assert key in data["gaps"] or key.removeprefix("ec2.") in data["not_offered"], key
        else:
            assert data["sources"].get(key), f"{region} {key} has a price but no source"
    if "ec2_all" in data["prices"]:
        assert data["sources"]["ec2_all"]
    assert (data["spot_discount"] is not None) == (region == "us-east-1")


@pytest.mark.skipif(SNAPSHOT is None or not SNAPSHOT.exists(),
                    reason="no shared/pricing beside the repository (set MLPLATFORM_SHARED to compare)")
@pytest.mark.parametrize("region", REGIONS)
def test_price_files_are_derived_from_the_shared_snapshot(region):
    assert load_prices(region).data == derive_region_prices(json.loads(SNAPSHOT.read_text()), region)


def test_missing_region_file_is_one_line_error():
    with pytest.raises(SpecError, match="region: no price file for ap-south-1; use one of eu-central-1, eu-west-1"):
        load_prices("ap-south-1")


# -- usage ------------------------------------------------------------------------------------------------
def test_usage_defaults_are_documented_and_overridable(tmp_path):
    text = USAGE_DEFAULT.read_text()
    defaults = load_usage()
    for key in defaults:
        assert f"\n{key}:" in text and text.split(f"\n{key}:")[0].rstrip().splitlines()[-1].startswith("#"), key
    mine = tmp_path / "usage.yaml"
    mine.write_text("gpu_node_hours: {gpu: 100}\nnat_gateway_gb: 0\n")
    usage = load_usage(mine)
    assert usage["gpu_node_hours"] == {"default": 40, "gpu": 100} and usage["nat_gateway_gb"] == 0
    assert usage["s3_artifact_gb"] == defaults["s3_artifact_gb"]
    mine.write_text("gpu_hours: 3\n")
    with pytest.raises(SpecError, match="--usage gpu_hours: unknown key"):
        load_usage(mine)


# -- live prices ------------------------------------------------------------------------------------------
def _product(usd: str, unit: str = "Hrs", tiers: tuple[str, ...] = ("0",)) -> str:
    dims = {f"SKU.JRTCKXETXF.{i}": {"unit": unit, "beginRange": begin, "endRange": "Inf",
                                    "pricePerUnit": {"USD": usd if i == 0 else "0.0000000001"},
                                    "description": f"${usd} per unit"} for i, begin in enumerate(tiers)}
    return json.dumps({"product": {"productFamily": "Compute Instance", "attributes": {"regionCode": "us-east-1"},
                                   "sku": "SKU"}, "serviceCode": "AmazonEC2",
                       "terms": {"OnDemand": {"SKU.JRTCKXETXF": {"priceDimensions": dims, "sku": "SKU",
                                                                 "offerTermCode": "JRTCKXETXF"}},
                                 "Reserved": {"SKU.R": {"priceDimensions": {"d": {"pricePerUnit": {"USD": "0.05"}}}}}}})


def test_price_list_parsing():
    assert parse_price_list([_product("0.0832000000")]) == pytest.approx(0.0832)
    assert parse_price_list([_product("0.0230000000", "GB-Mo", tiers=("0", "51200", "512000"))]) == pytest.approx(0.023)
    assert parse_price_list([]) is None
    assert parse_price_list([_product("0.1"), _product("0.2")]) is None  # ambiguous: stays a gap
    assert parse_price_list([_product("0.1"), _product("0.1")]) == pytest.approx(0.1)


def test_live_prices_build_valid_requests_and_fill_gaps():
    """botocore's Stubber checks each request against the real Pricing API model."""
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    book = load_prices("us-east-1")
    paths = [("ec2", "t3.large"), ("rds_postgres", "db.r6g.large", "multi_az"), ("vpc_endpoint_interface_hour",),
             ("nat_gateway_gb",), ("made_up",)]
    with Stubber(client) as stub:
        for path, answer in zip(paths[:4], (_product("0.0832"), _product("0.304"), _product("0.01"), [])):
            stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [answer] if answer else []},
                              price_query(path, "us-east-1").request())
        live, missed = fetch_live_prices(book, paths, client=client)
        stub.assert_no_pending_responses()
    assert missed == ["nat_gateway_gb", "made_up"]
    p = live.price("rds_postgres", "db.r6g.large", "multi_az")
    assert p.value == pytest.approx(0.304) and p.status == "ok" and p.source.startswith("AWS Price List API")
    assert "instanceType=db.r6g.large" in p.source and "deploymentOption=Multi-AZ" in p.source
    assert live.price("vpc_endpoint_interface_hour").value == pytest.approx(0.01)
    assert "rds_postgres.db.r6g.large.multi_az" not in live.data["gaps"]
    assert book.price("rds_postgres", "db.r6g.large", "multi_az").value is None  # the shipped book is untouched
    assert live.price("nat_gateway_gb").value == pytest.approx(0.045)  # unanswered: keeps the file's price


def test_needed_prices_cover_what_the_estimate_looks_up(plans):
    paths = needed_prices(plans["full"], "us-east-1")
    assert ("eks_cluster_hour",) in paths and ("rds_postgres", "db.m6g.large", "multi_az") in paths
    assert ("ec2", "m6i.xlarge") in paths and ("ec2", "p4d.24xlarge") in paths
    assert all(price_query(p, "us-east-1") is not None for p in paths)


# -- CLI --------------------------------------------------------------------------------------------------
def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_cost_json_and_saved_plan_agree(tmp_path):
    res = run("cost", "--profile", "pragmatic", "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["region"] == "us-east-1" and data["uncovered_types"] == [] and data["idle_monthly"] > 0
    assert data["gpu_hour"][0]["on_demand"] == pytest.approx(0.8048)
    saved = tmp_path / "plan.json"
    assert run("plan", "--profile", "pragmatic", "--json", "--out", str(saved)).exit_code == 0
    again = json.loads(run("cost", "--plan", str(saved), "--json").stdout)
    assert again["idle_monthly"] == data["idle_monthly"] and again["monthly_with_usage"] == data["monthly_with_usage"]


def test_cli_cost_for_people():
    res = run("cost", "--profile", "full", "--region", "eu-central-1")
    assert res.exit_code == 0, res.stderr
    out = res.stdout
    assert "Idle:" in out and "With the usage file:" in out and "Price of one GPU-hour" in out
    assert "price gap(s), left out of the totals" in out and "rds_gp3_gb_month.multi_az" in out


def test_cli_cost_bad_inputs(tmp_path):
    res = run("cost", "--profile", "pragmatic", "--plan", str(tmp_path / "x.json"))
    assert res.exit_code == 1 and "--plan: a saved plan is already decided" in res.stderr
    res = run("cost", "--profile", "pragmatic", "--region", "ap-south-1")
    assert res.exit_code == 1 and "no price file for ap-south-1" in res.stderr


def _release(name: str, chart: str, values: dict) -> PlannedResource:
    return PlannedResource(f"urn:{name}", "kubernetes:helm.sh/v3:Release", name, None, True,
                           {"chart": f"oci://ghcr.io/actions/actions-runner-controller-charts/{chart}", "values": values})


def test_helm_volumes_and_runner_scale_sets():
    gpu_group = PlannedResource("urn:g", "aws:eks/nodeGroup:NodeGroup", "gpu-spot", None, True, {
        "instanceTypes": ["g6.xlarge"], "capacityType": "SPOT", "labels": {"mlplatform.io/pool": "gpu",
                                                                          "mlplatform.io/gpu": "true"},
        "scalingConfig": {"minSize": 0, "desiredSize": 0, "maxSize": 2}})
    monitoring = _release("monitoring", "kube-prometheus-stack", {
        "prometheus": {"prometheusSpec": {"replicas": 2, "storageSpec": {"volumeClaimTemplate": {
            "spec": {"resources": {"requests": {"storage": "50Gi"}}}}}}},
        "alertmanager": {"enabled": False, "alertmanagerSpec": {"storage": {"volumeClaimTemplate": {
            "spec": {"resources": {"requests": {"storage": "2Gi"}}}}}}},
        "grafana": {"persistence": {"enabled": True, "size": "10Gi"}}})
    cpu = _release("runners-cpu", "gha-runner-scale-set", {"minRunners": 1, "maxRunners": 4})
    gpu = _release("runners-gpu", "gha-runner-scale-set", {"minRunners": 0, "template": {"spec": {
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}}})
    controller = _release("arc", "gha-runner-scale-set-controller", {})
    usage = {**USAGE, "runners": {"cpu_runner_hours": 60, "cpu_runner_instance": "m6i.large", "gpu_runner_hours": 5},
             "gpu_node_hours": {"default": 0, "gpu": 10}}
    report = estimate(Plan("x", [gpu_group, monitoring, cpu, gpu, controller]), "us-east-1", usage)
    by = {r.name: r for r in report.resources}
    assert by["monitoring"].idle == pytest.approx((2 * 50 + 10) * 0.08)  # alertmanager is disabled: no volume
    assert by["runners-cpu"].idle == pytest.approx(730 * 0.096)  # one warm runner on m6i.large
    assert by["runners-cpu"].monthly == pytest.approx(730 * 0.096 + 60 * 0.096)
    assert by["runners-gpu"].idle == 0 and by["runners-gpu"].monthly == pytest.approx(5 * 0.8048)
    assert by["arc"].lines == [] and "runs on the cluster's nodes" in by["arc"].free
    assert by["gpu-spot"].idle == 0 and "upper bound" in by["gpu-spot"].lines[0].what
    assert by["gpu-spot"].lines[0].monthly == pytest.approx(10 * 0.8048)  # the pool's own hours, not `default`


@pytest.mark.parametrize("size, gib", [("20Gi", 20), ("1G", 1e9 / 2**30), ("500Ki", 500 / 2**20), ("1Ti", 1024),
                                       ("1T", 1e12 / 2**30), ("1.5Gi", 1.5)])
def test_volume_sizes_are_kubernetes_quantities(size, gib):
    """GB is not GiB: EBS bills GiB-months, so "1G" (10^9 bytes) is 0.93 of a GiB-month."""
    grafana = _release("monitoring", "kube-prometheus-stack", {"grafana": {"persistence": {"enabled": True, "size": size}}})
    (line,) = estimate(Plan("x", [grafana]), "us-east-1", USAGE).resources[0].lines
    assert line.status == "ok" and line.quantity == pytest.approx(gib) and line.monthly == pytest.approx(gib * 0.08)


def test_a_negative_volume_size_is_a_gap():
    grafana = _release("monitoring", "kube-prometheus-stack", {"grafana": {"persistence": {"enabled": True, "size": "-1Gi"}}})
    ((_, line),) = estimate(Plan("x", [grafana]), "us-east-1", USAGE).gaps
    assert line.monthly is None and line.status == "negative size '-1Gi'"


@pytest.mark.parametrize("size", ["20Gi ", "20 GB", "lots"])
def test_an_unreadable_volume_size_is_a_gap_never_zero_dollars(size):
    grafana = _release("monitoring", "kube-prometheus-stack", {"grafana": {"persistence": {"enabled": True, "size": size}}})
    report = estimate(Plan("x", [grafana]), "us-east-1", USAGE)
    ((r, line),) = report.gaps
    assert line.monthly is None and line.status == f"unreadable size: {size!r} is not a Kubernetes quantity (like 500m, 512Mi, 20Gi, 1T)"
    assert r.name == "monitoring" and report.to_dict()["gaps"][0]["status"].startswith("unreadable size")


def test_load_balancers_that_ingresses_and_services_create(plans):
    mlflow = _release("mlflow", "mlflow", {"ingress": {"enabled": True, "className": "alb"},
                                           "service": {"type": "ClusterIP"}})
    grouped = _release("ui", "x", {"a": {"ingress": {"enabled": True, "annotations": {
        "alb.ingress.kubernetes.io/group.name": "shared"}}}, "b": {"ingress": {"enabled": True, "annotations": {
            "alb.ingress.kubernetes.io/group.name": "shared"}}}, "c": {"enabled": False, "ingress": {
                "enabled": True, "className": "alb"}}})
    svc = PlannedResource("urn:s", "kubernetes:core/v1:Service", "s", None, True,
                          {"metadata": {"name": "api"}, "spec": {"type": "LoadBalancer"}})
    internal = PlannedResource("urn:c", "kubernetes:core/v1:Service", "c", None, True, {"spec": {"type": "ClusterIP"}})
    report = estimate(Plan("x", [mlflow, grouped, svc, internal]), "us-east-1", {**USAGE, "load_balancer_lcus": 1})
    by = {r.name: r for r in report.resources}
    assert by["mlflow"].idle == pytest.approx(730 * 0.0225)  # one ALB for the enabled ingress
    assert by["mlflow"].monthly == pytest.approx(730 * 0.0225 + 730 * 0.008)
    assert by["ui"].idle == pytest.approx(730 * 0.0225)  # two ingresses in one group share one ALB
    assert [x.status for x in by["s"].lines] == ["gap", "gap"]  # NLB prices are not in the price file
    assert by["c"].lines == [] and "not type LoadBalancer" in by["c"].free
    growth = estimate(plans["growth"], "us-east-1")
    alb = [x for r in growth.resources if r.name == "ml-dev-mlflow" for x in r.lines]
    assert [x.price_key for x in alb] == ["alb_hour", "alb_lcu_hour"]  # growth's MLflow is behind an internal ALB


def test_pragmatic_idle_cost_goal_in_us_east_1():
    """Issue 7's goal: the pragmatic defaults idle at <= $190/month all-in, nodes and DB private."""
    from mlplatform.stacks.analyses.cost import estimate
    from mlplatform.stacks.program import plan
    from mlplatform.stacks.config.spec import load_spec

    report = estimate(plan(load_spec("pragmatic")), region="us-east-1")
    assert report.gaps == []  # every always-on price is known: the total is complete
    assert report.idle <= 190.0, report.idle
    assert not any(r.inputs.get("publiclyAccessible") for r in plan(load_spec("pragmatic")).resources)


@pytest.mark.parametrize("content,message", [
    ("gpu_node_hours: {default: lots}\n", "--usage gpu_node_hours.default: must be a number >= 0, got 'lots'"),
    ("gpu_node_hours: {default: -5}\n", "--usage gpu_node_hours.default: must be a number >= 0, got -5"),
    ("gpu_node_hours: [1, 2]\n", "--usage gpu_node_hours: must be a mapping like the default's"),
    ("runners: 5\n", "--usage runners: must be a mapping like the default's, got 5"),
    ("runners: {cpu_runner_hourz: 3}\n", "--usage runners.cpu_runner_hourz: unknown key"),
    ("nat_gateway_gb: true\n", "--usage nat_gateway_gb: must be a number >= 0, got True"),
])
def test_bad_usage_file_is_one_line(tmp_path, content, message):
    from mlplatform.stacks.analyses.cost import load_usage
    from mlplatform.stacks.config.spec import SpecError

    f = tmp_path / "usage.yaml"
    f.write_text(content)
    with pytest.raises(SpecError) as e:
        load_usage(f)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_usage_file_with_a_pool_of_its_own(tmp_path):
    from mlplatform.stacks.analyses.cost import load_usage

    f = tmp_path / "usage.yaml"
    f.write_text("gpu_node_hours: {gpu: 12.5}\n")
    assert load_usage(f)["gpu_node_hours"] == {"default": 40, "gpu": 12.5}


# -- every region priced (issue 25): the big always-on items have prices; what is left is named ----------------
ALWAYS_ON = ("eks_cluster_hour", "nat_gateway_hour", "alb_hour", "vpc_endpoint_interface_hour", "kms_key_month",
             "public_ipv4_hour", "ebs_gp3_gb_month", "s3_standard_gb_month")


@pytest.fixture(scope="module")
def regional_reports():
    return {(p, r): estimate(plan(load_spec(p, region=r)), region=r) for r in REGIONS for p in PROFILES}


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_is_priced_in_every_region(regional_reports, profile, region):
    report = regional_reports[(profile, region)]
    gap_keys = {x.price_key for _, x in report.gaps}
    # Nodes, NAT, the database instance, the cluster, load balancers, endpoints: all priced in all four regions.
    assert not {k for k in gap_keys if k.startswith(("ec2.", "rds_postgres.")) or k in ALWAYS_ON}, gap_keys
    # What stays unpriced is exactly a gap the shared snapshot lists for the region (never an invented price).
    assert gap_keys <= set(load_prices(region).data["gaps"]), gap_keys
    assert report.idle > 150 and not report.uncovered


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("profile", PROFILES)
def test_headline_is_a_total_only_without_gaps_and_names_the_gaps(regional_reports, profile, region):
    report = regional_reports[(profile, region)]
    data = report.to_dict()
    for idle, gaps, key in ((True, report.idle_gaps, "idle"), (False, report.gaps, "monthly_with_usage")):
        headline = data["headline"][key]
        assert headline == report.headline(idle=idle)
        total = report.idle if idle else report.monthly
        if gaps:
            assert headline.startswith(f"at least ${total:,.2f}/month (unpriced: ")
            for r, line in gaps:
                assert line.price_key in headline and r.name in headline
            assert data[f"{key}_is_total"] is False and data["unpriced"][key] == sorted({x.price_key for _, x in gaps})
        else:
            assert headline == f"${total:,.2f}/month" and data[f"{key}_is_total"] is True


def test_remaining_gaps_per_region_are_the_ones_the_snapshot_lists(regional_reports):
    """us-east-1 and eu-west-1 idle totals are complete; us-west-2 and eu-central-1 lack RDS gp3 storage only."""
    idle = {(p, r): sorted({x.price_key for _, x in regional_reports[(p, r)].idle_gaps}) for p in PROFILES
            for r in REGIONS}
    for p in PROFILES:
        assert idle[(p, "us-east-1")] == [] and idle[(p, "eu-west-1")] == []
        deployment = "single_az" if p == "pragmatic" else "multi_az"
        assert idle[(p, "us-west-2")] == idle[(p, "eu-central-1")] == [f"rds_gp3_gb_month.{deployment}"]


def test_cli_cost_headline_says_at_least_and_names_the_unpriced_items():
    res = run("cost", "--profile", "pragmatic", "--region", "eu-central-1")
    assert res.exit_code == 0, res.stderr
    idle_line = next(line for line in res.stdout.splitlines() if line.startswith("Idle:"))
    assert idle_line.startswith("Idle: at least $") and "(unpriced: rds_gp3_gb_month.single_az on ml-dev-metadata)" in idle_line
    assert "unpriced item(s)" not in res.stdout
    data = json.loads(run("cost", "--profile", "pragmatic", "--region", "eu-central-1", "--json").stdout)
    assert data["idle_is_total"] is False and data["unpriced"]["idle"] == ["rds_gp3_gb_month.single_az"]
    assert data["headline"]["idle"] == f"at least ${data['idle_monthly']:,.2f}/month (unpriced: " \
                                       "rds_gp3_gb_month.single_az on ml-dev-metadata)"
    full = json.loads(run("cost", "--profile", "pragmatic", "--json").stdout)  # us-east-1: a real total
    assert full["idle_is_total"] is True and full["headline"]["idle"] == f"${full['idle_monthly']:,.2f}/month"
