"""The Helm values checker itself must catch a wrong key (else every values test is hollow)."""

from chartcheck import check_values, known_paths


def test_real_and_commented_keys_are_known():
    paths = known_paths("gha-runner-scale-set")
    assert ("githubConfigUrl",) in paths
    assert ("maxRunners",) in paths and ("minRunners",) in paths  # documented only as comments


def test_unknown_key_is_reported_and_free_form_maps_stop():
    report = check_values("nvidia-device-plugin", {
        "nodeSelector": {"mlplatform.io/pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "notAKey": {"x": 1},
    })
    assert report.unknown == ["notAKey"]
    assert report.stopped_at == ["nodeSelector"]  # chart default {}: free-form


def test_list_items_are_checked_against_the_charts_own_items():
    ok = check_values("nvidia-device-plugin", {"tolerations": [{"key": "a", "operator": "Exists"}]})
    bad = check_values("nvidia-device-plugin", {"tolerations": [{"keyy": "a"}]})
    assert ok.unknown == [] and bad.unknown == ["tolerations.[].keyy"]


def test_nested_typo_is_caught():
    report = check_values("kube-prometheus-stack", {"prometheus": {"prometheusSpec": {"retention": "7d",
                                                                                      "retentionn": "7d"}}})
    assert report.unknown == ["prometheus.prometheusSpec.retentionn"]
