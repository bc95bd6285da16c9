"""Profiles, team-size selection, overrides and every bad input's one-line error."""

from __future__ import annotations

import pytest

from mlplatform.stacks.config.spec import SpecError, apply_set, load_spec, profile_for_team_size


@pytest.mark.parametrize("size,profile", [(1, "pragmatic"), (5, "pragmatic"), (6, "growth"), (20, "growth"),
                                          (21, "full"), (400, "full")])
def test_team_size_picks_profile(size, profile):
    assert profile_for_team_size(size) == profile
    assert load_spec(team_size=size).profile == profile


def test_profiles_follow_the_design_table():
    p, g, f = (load_spec(x) for x in ("pragmatic", "growth", "full"))
    assert (p.network.az_count, p.network.nat_gateways) == (2, "single")
    assert (g.network.az_count, g.network.nat_gateways) == (3, "per_az")
    assert (f.network.az_count, f.network.nat_gateways, f.network.vpc_endpoints) == (3, "per_az", True)
    assert (p.cluster.system_nodes.count, p.cluster.system_nodes.instance_type) == (2, "t3a.medium")
    assert (g.cluster.system_nodes.count, g.cluster.system_nodes.instance_type) == (3, "m6i.large")
    assert (f.cluster.system_nodes.count, f.cluster.system_nodes.instance_type) == (3, "m6i.xlarge")
    assert p.gpu.mechanism == "managed" and p.gpu.pools[0].instance_types[:2] == ["g6.xlarge", "g5.xlarge"]
    assert (p.gpu.pools[0].min, p.gpu.pools[0].max) == (0, 2)
    assert g.gpu.mechanism == f.gpu.mechanism == "karpenter" and len(f.gpu.pools) == 2
    assert (p.database.instance_class, p.database.multi_az, p.database.backup_retention_days) == ("db.t4g.micro", False, 7)
    assert (g.database.instance_class, g.database.multi_az, g.database.backup_retention_days) == ("db.t4g.medium", True, 14)
    assert (f.database.instance_class, f.database.backup_retention_days, f.database.performance_insights) == (
        "db.m6g.large", 35, True)
    assert [x.mlflow.replicas for x in (p, g, f)] == [1, 2, 3]
    assert [x.monitoring.retention_days for x in (p, g, f)] == [7, 15, 30]
    assert [(x.runners.cpu.max, x.runners.gpu.max) for x in (p, g, f)] == [(4, 1), (10, 4), (30, 8)]
    assert [x.retraining.engine for x in (p, g, f)] == ["cronjob", "argo", "argo"]


def test_profile_flag_wins_over_team_size_and_config(tmp_path):
    cfg = tmp_path / "stack.yaml"
    cfg.write_text("profile: full\nnetwork:\n  az_count: 3\n")
    assert load_spec(config_file=cfg).profile == "full"
    assert load_spec(profile="growth", config_file=cfg).profile == "growth"
    cfg.write_text("team_size: 8\n")
    assert load_spec(config_file=cfg).profile == "growth"
    assert load_spec(team_size=2, config_file=cfg).profile == "pragmatic"


def test_config_file_and_set_override_defaults(tmp_path):
    cfg = tmp_path / "stack.yaml"
    cfg.write_text("# our overrides\nregion: eu-west-1\ndatabase:\n  backup_retention_days: 10\n")
    spec = load_spec("pragmatic", config_file=cfg, sets=["network.az_count=3", "gpu.pools.0.max=4",
                                                          "cluster.public_access_cidrs=[10.0.0.0/8]"])
    assert spec.region == "eu-west-1"
    assert spec.database.backup_retention_days == 10
    assert spec.database.instance_class == "db.t4g.micro"  # untouched default stays
    assert spec.network.az_count == 3
    # the profile's own list, narrowed to what eu-west-1 offers (a notice says so); max is the user's
    assert spec.gpu.pools[0].max == 4 and spec.gpu.pools[0].instance_types == ["g5.xlarge"]
    assert spec.cluster.public_access_cidrs == ["10.0.0.0/8"]


def test_apply_set_does_not_mutate_its_input():
    data = {"network": {"az_count": 2}}
    assert apply_set(data, "network.az_count=3") == {"network": {"az_count": 3}}
    assert data == {"network": {"az_count": 2}}


@pytest.mark.parametrize("kwargs,message", [
    (dict(profile="huge"), "profile: unknown profile 'huge'; use one of pragmatic, growth, full"),
    (dict(team_size=-3), "team_size: must be at least 1, got -3"),
    (dict(team_size=0), "team_size: must be at least 1, got 0"),
    (dict(sets=["network.azcount=3"]), "network.azcount: did you mean network.az_count?"),
    (dict(sets=["network.qwerty=3"]), "network.qwerty: unknown key; remove it or check its spelling"),
    (dict(sets=["network.az_count=three"]), "network.az_count: input should be a valid integer"),
    (dict(sets=["network.az_count=-1"]), "network.az_count: is -1, but EKS needs subnets in at least 2 availability zones"),
    (dict(sets=["gpu.pools.0.min=3"]), "gpu.pools.0: min (3) is greater than max (2) in gpu pool gpu; raise max or lower min"),
    (dict(sets=["runners.cpu.min=5"]), "runners.cpu: min (5) is greater than max (4)"),
    (dict(sets=["cluster.system_nodes.min=4"]), "cluster.system_nodes: min (4) is greater than max (3)"),
    (dict(sets=["network.az_count=1"]),
     "network.az_count: is 1, but EKS needs subnets in at least 2 availability zones (vpcConfig.subnetIds) and so "
     "does the RDS DB subnet group; AWS refuses both at `up`; use 2 or more zones"),
    (dict(region="us-west-1", sets=["network.az_count=3"]),
     "network.az_count: us-west-1 has 2 availability zones, 3 asked; set network.az_count to 2 or less"),
    (dict(region="us-middle-1"), "region: 'us-middle-1' is not an AWS region mlplatform knows"),
    (dict(sets=["database.backup_retention_days=40"]), "database.backup_retention_days: input should be less than or equal to 35"),
    (dict(sets=["network.cidr_block=10.0.0.0/8"]), "network.cidr_block: prefix /8 of 10.0.0.0/8 is outside /16../20; use a /16"),
    (dict(sets=["network.nat_gateways=many"]), "network.nat_gateways: input should be 'single', 'per_az' or 'none'"),
    (dict(sets=["gpu.pools.5.max=1"]), "gpu.pools.5: index 5 is out of range; use 0 to 0"),
    (dict(sets=["az_count"]), "--set: 'az_count' is not key=value"),
    (dict(sets=["profile=full"]), "--set: profile cannot be set this way; use --profile or --team-size"),
])
def test_bad_input_is_one_line_naming_key_and_fix(kwargs, message):
    from mlplatform.stacks.errors import MlplatformError

    with pytest.raises(MlplatformError) as e:
        load_spec(**kwargs)
    text = str(e.value)
    assert message in text
    assert "\n" not in text and ";" in text


@pytest.mark.parametrize("content,message", [
    ("network:\n  az_count: [\n", "is not valid YAML at line"),
    ("- a\n- b\n", "must hold a mapping of keys, not a list"),
    ("network: {az_count: 3}\nfoo: 1\n", "foo: unknown key"),
    ("team_size: 3.5\n", "team_size: must be a whole number"),
])
def test_bad_config_file(tmp_path, content, message):
    cfg = tmp_path / "stack.yaml"
    cfg.write_text(content)
    with pytest.raises(SpecError) as e:
        load_spec(config_file=cfg)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(SpecError, match=r"config: cannot read .*nope.yaml"):
        load_spec(config_file=tmp_path / "nope.yaml")


def test_config_file_not_utf8_or_with_a_repeated_key(tmp_path):
    cfg = tmp_path / "stack.yaml"
    cfg.write_bytes(b"\xff\xfe network: x\n")
    with pytest.raises(SpecError, match=r"^config: .*stack.yaml is not UTF-8 text; save it as UTF-8 YAML$"):
        load_spec(config_file=cfg)
    cfg.write_text("network:\n  az_count: 3\nnetwork:\n  az_count: 2\n")
    with pytest.raises(SpecError, match=r"sets 'network' twice \(line 3\); keep one of them"):
        load_spec(config_file=cfg)


def test_set_with_a_non_numeric_list_index():
    with pytest.raises(SpecError, match=r"^gpu.pools.x: 'x' is not a list index; use a number from 0 to 0$"):
        load_spec(sets=["gpu.pools.x.max=4"])


def test_region_given_with_a_stack_file_is_validated(tmp_path):
    from mlplatform.stacks.source import stack_source

    f = tmp_path / "Pulumi.dev.yaml"
    f.write_text("config:\n  mlplatform:profile: growth\n")
    with pytest.raises(SpecError, match=r"^Pulumi.dev.yaml: region: 'mars-1' is not an AWS region"):
        stack_source(config_file=f, region="mars-1")
    with pytest.raises(SpecError, match=r"^Pulumi.dev.yaml: network.az_count: us-west-1 has 2 availability zones, 3 asked"):
        stack_source(config_file=f, region="us-west-1")
    f.write_text("config:\n  aws:region: mars-1\n  mlplatform:profile: growth\n")
    with pytest.raises(SpecError, match=r"^Pulumi.dev.yaml: aws:region: 'mars-1' is not an AWS region"):
        stack_source(config_file=f)


def test_one_az_is_refused_at_load_by_every_command(tmp_path):
    """Issue 25: one AZ gives EKS's vpcConfig.subnetIds and the RDS subnet group one subnet each; AWS refuses at up."""
    from click.testing import CliRunner

    from mlplatform.cli.main import cli

    for argv in (["plan", "--set", "network.az_count=1"], ["cost", "--profile", "growth", "--set", "network.az_count=1"]):
        res = CliRunner().invoke(cli, argv)
        assert res.exit_code == 1, res.output
        assert res.stderr.strip().splitlines() == [
            "error: network.az_count: is 1, but EKS needs subnets in at least 2 availability zones "
            "(vpcConfig.subnetIds) and so does the RDS DB subnet group; AWS refuses both at `up`; "
            "use 2 or more zones"]
    assert load_spec(sets=["network.az_count=2"]).network.az_count == 2


@pytest.mark.parametrize("field", ["retraining.schedule", "review.schedule"])
@pytest.mark.parametrize("cron", ["99 99 99 99 99", "0 3 ? * 1", "0 0 L * *", "0 3 * *", "0 24 * * *"])
def test_a_schedule_that_is_not_cron_is_refused_in_one_line(field, cron):
    with pytest.raises(SpecError) as e:
        load_spec("pragmatic", sets=[f"{field}={cron}"])
    assert str(e.value).startswith(f"{field}: {cron!r} is not a cron schedule; use 5 fields") and "\n" not in str(e.value)


@pytest.mark.parametrize("cron", ["0 3 * * 1", "*/15 2-4 * * MON-FRI", "0 0 1,15 jan *", "@daily"])
def test_a_cron_schedule_is_kept(cron):
    spec = load_spec("pragmatic", sets=[f"retraining.schedule={cron}", f"review.schedule={cron}"])
    assert spec.retraining.schedule == spec.review.schedule == cron
