"""`helm_values:`: a user's own chart values, deep-merged over the components', checked when loaded."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import plan_of
from mlplatform.cli.main import cli
from mlplatform.components._common import ValidationError
from mlplatform.components.helm_values import OWNED, owned_problem
from mlplatform.components.monitoring import Monitoring, MonitoringArgs
from mlplatform.components.versions import HELM_CHARTS
from mlplatform.stacks.config.helm_overrides import HELM_VALUES
from mlplatform.stacks.program import plan
from mlplatform.stacks.config.spec import SpecError, load_spec

RELEASE = "kubernetes:helm.sh/v3:Release"


def values_of(p, release: str) -> dict:
    return next(r.inputs["values"] for r in p.of_type(RELEASE) if r.name == release)


def test_a_misspelt_key_is_refused_at_load_naming_chart_key_and_closest_key():
    with pytest.raises(SpecError) as e:
        load_spec("pragmatic", overrides={"monitoring": {"helm_values": {"alertmanagerr": {}}}})
    assert str(e.value) == ("monitoring.helm_values.alertmanagerr: kube-prometheus-stack 88.5.3 has no value "
                            "alertmanagerr; did you mean alertmanager?")


def test_the_cli_refuses_it_in_a_config_file_with_one_line(tmp_path):
    cfg = tmp_path / "stack.yaml"
    cfg.write_text("monitoring:\n  helm_values:\n    alertmanagerr: {}\n")
    res = CliRunner().invoke(cli, ["plan", "-p", "pragmatic", "--config", str(cfg)], catch_exceptions=False)
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines()[-1] == (
        "error: monitoring.helm_values.alertmanagerr: kube-prometheus-stack 88.5.3 has no value alertmanagerr; "
        "did you mean alertmanager?")


@pytest.mark.parametrize("overrides, message", [
    ({"monitoring": {"helm_values": {"prometheus": {"prometheusSpec": {"retentionn": "3d"}}}}},
     "monitoring.helm_values.prometheus.prometheusSpec.retentionn: kube-prometheus-stack 88.5.3 has no value "
     "prometheus.prometheusSpec.retentionn; did you mean prometheus.prometheusSpec.retention?"),
    ({"monitoring": {"helm_values": {"prometheus": {"enabled": "yes"}}}},
     "monitoring.helm_values.prometheus.enabled: kube-prometheus-stack 88.5.3: is a string, the chart's default is "
     "true/false; give it the type the chart takes"),
    ({"gpu": {"helm_values": {"replicas": 2}}},  # pragmatic: managed node groups, so cluster-autoscaler
     "gpu.helm_values.replicas: cluster-autoscaler 9.59.0 has no value replicas; did you mean replicaCount?"),
    ({"monitoring": {"helm_values": {"prometheus": {"prometheusSpec": {"tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Exists"}]}}}}},
     "monitoring.helm_values.prometheus.prometheusSpec.tolerations: refused for kube-prometheus-stack: tolerating "
     "the GPU taint would let these pods keep GPU nodes up; only GPU work and the GPU DaemonSets tolerate it; "
     "remove it from monitoring.helm_values"),
    ({"gpu": {"device_plugin_helm_values": {"tolerations": []}}},
     "gpu.device_plugin_helm_values.tolerations: refused for nvidia-device-plugin: the component sets it: the GPU "
     "DaemonSet runs on GPU nodes only, tolerating the GPU taint; remove it from gpu.device_plugin_helm_values"),
    ({"mlflow": {"helm_values": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:x"}}}}},
     "mlflow.helm_values.serviceAccount.annotations.eks.amazonaws.com/role-arn: refused for mlflow: the component "
     "sets it: the IRSA role's trust policy names this service account; remove it from mlflow.helm_values"),
    ({"mlflow": {"helm_values": {"backendStore": {"existingDatabaseSecret": {"name": "mine"}}}}},
     "mlflow.helm_values.backendStore.existingDatabaseSecret.name: refused for mlflow: the database password "
     "stays in the Secret the component writes; remove it from mlflow.helm_values"),
    ({"mlflow": {"helm_values": {"replicaCount": 3}}},
     "mlflow.helm_values.replicaCount: refused for mlflow: set replicas (mlflow.replicas); remove it from "
     "mlflow.helm_values"),
    ({"retraining": {"helm_values": {"server": {"replicas": 2}}}},
     "retraining.helm_values: retraining.engine is cronjob: Argo is not installed, so there is no argo-workflows "
     "release to give values to; remove retraining.helm_values"),
    ({"monitoring": {"helm_values": ["not", "a", "map"]}},
     "monitoring.helm_values: input should be a valid dictionary"),
])
def test_bad_helm_values_are_refused_with_one_line(overrides, message):
    with pytest.raises(SpecError) as e:
        load_spec("pragmatic", overrides=overrides)
    assert str(e.value).startswith(message)


def test_helm_values_are_merged_over_the_components_values():
    spec = load_spec("growth", overrides={
        "monitoring": {"helm_values": {"prometheus": {"prometheusSpec": {"remoteWrite": [{"url": "https://m.example"}]}},
                                       "grafana": {"grafana.ini": {"auth.generic_oauth": {"enabled": True}}}}},
        "gpu": {"helm_values": {"replicas": 1}},  # growth: karpenter
        "mlflow": {"helm_values": {"extraEnvVars": {"MLFLOW_AUTH": "basic"}}},
        "retraining": {"helm_values": {"server": {"replicas": 2}}},
    })
    p = plan(spec)
    kps = values_of(p, "ml-dev-monitoring")
    assert kps["prometheus"]["prometheusSpec"]["remoteWrite"] == [{"url": "https://m.example"}]
    assert kps["prometheus"]["prometheusSpec"]["retention"] == "15d"  # the component's values stay
    assert kps["grafana"]["grafana.ini"] == {"auth.generic_oauth": {"enabled": True}}
    assert kps["grafana"]["admin"]["existingSecret"]  # owned, untouched
    karpenter = values_of(p, "ml-dev-karpenter")
    assert karpenter["replicas"] == 1 and karpenter["settings"]["clusterName"] == "ml-dev"
    assert values_of(p, "ml-dev-mlflow")["extraEnvVars"] == {"MLFLOW_AUTH": "basic", "PGSSLMODE": "verify-full",
                                                             "PGSSLROOTCERT": "/etc/rds-ca/global-bundle.pem"}
    assert values_of(p, "ml-dev-argo")["server"]["replicas"] == 2
    # ...and the merged plan passes the chart-facts rules of `check`
    from mlplatform.stacks.analyses.policy import RULES_BY_ID, evaluate

    assert evaluate(p, [RULES_BY_ID["helm-values"]]) == []


def test_every_helm_values_field_is_a_spec_field_of_a_pinned_chart():
    spec = load_spec("full")
    for f in HELM_VALUES:
        assert getattr(getattr(spec, f.section), f.field) == {}
        assert f.chart(spec) in HELM_CHARTS
    assert set(OWNED) == set(HELM_CHARTS)


def test_owned_keys_are_refused_above_and_below_the_owned_path():
    assert owned_problem("mlflow", {"backendStore": {"postgres": {"host": "x"}}})[0] == "backendStore.postgres.host"
    assert owned_problem("mlflow", {"artifactRoot": "s3://elsewhere"})[0] == "artifactRoot"  # replaces the owned map
    assert owned_problem("mlflow", {"backendStore": {"databaseMigration": False}}) is None
    assert owned_problem("kube-prometheus-stack", {"grafana": {}}) is None  # an empty map merges nothing
    assert owned_problem("karpenter", {"tolerations": [{"key": "other", "operator": "Exists"}]}) is None
    assert owned_problem("karpenter", {"tolerations": [{"operator": "Exists"}]})[0] == "tolerations"  # tolerates all


def test_the_component_refuses_an_owned_key_before_creating_anything():
    errors = []

    def run():
        try:
            Monitoring("mon", MonitoringArgs(helm_values={"grafana": {"admin": {"existingSecret": "mine"}}}))
        except ValidationError as e:
            errors.append(str(e))

    p = plan_of(run)
    assert errors == ["helm_values.grafana.admin.existingSecret: refused for kube-prometheus-stack: the Grafana admin "
                      "login is the stack's Pulumi secret (grafana_admin_password output); remove it from helm_values"]
    assert p.resources == []
