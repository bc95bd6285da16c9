"""serve apply's Kubernetes calls (a real HTTP server on loopback stands in for the API server), the EKS
token (botocore against moto), serve record / status / rollback against a moto ledger."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from click.testing import CliRunner

from mlplatform.cli.main import cli
from mlplatform.stacks.cloud import kube
from mlplatform.stacks.config.spec import load_spec
from mlplatform.stacks.evidence import records as R
from mlplatform.stacks.evidence.errors import EvidenceError
from mlplatform.stacks.evidence.rollouts import Version, rollback_target, settled
from mlplatform.stacks.project.serving import Release, render, stable_pod_digests
from test_evidence import COMMIT1, COMMIT2, D1, D2, ledger_env, record, release  # noqa: F401
from test_serving_records import ABORTED, COMPLETED, PAUSED

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/models"


class FakeApi(BaseHTTPRequestHandler):
    calls: list[tuple[str, str, str, bytes]] = []
    rollouts: list[dict] = []
    pods: dict = {"kind": "PodList", "items": []}

    def _answer(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PATCH(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        FakeApi.calls.append(("PATCH", self.path, self.headers["Content-Type"], body))
        self._answer(200, json.loads(body))

    def do_GET(self):  # noqa: N802
        FakeApi.calls.append(("GET", self.path, "", b""))
        if urllib.parse.urlsplit(self.path).path.endswith("/pods"):
            self._answer(200, FakeApi.pods)
        elif FakeApi.rollouts:
            self._answer(200, FakeApi.rollouts.pop(0))
        else:
            self._answer(404, {"message": "not found"})

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    FakeApi.calls, FakeApi.rollouts = [], []
    server = HTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield kube.Kube(f"http://127.0.0.1:{server.server_port}", "t0ken")
    server.shutdown()


def test_apply_is_a_server_side_apply_of_each_rendered_object(api):
    spec = load_spec("growth", sets=["serving.models.churn.replicas=2"])
    objects = render(spec, "dev", Release("churn", "2", D2, f"{REPO}@{D2}"), ["staging"])["staging"]
    for o in objects:
        kube.apply(api, o)
    paths = [urllib.parse.urlsplit(p).path for _, p, _, _ in FakeApi.calls]
    assert paths == ["/api/v1/namespaces/serving-staging/services/churn",
                     "/api/v1/namespaces/serving-staging/services/churn-ping",
                     "/api/v1/namespaces/serving-staging/services/churn-pong",
                     "/apis/networking.k8s.io/v1/namespaces/serving-staging/ingresses/churn",
                     "/apis/monitoring.coreos.com/v1/namespaces/serving-staging/podmonitors/churn",
                     "/apis/policy/v1/namespaces/serving-staging/poddisruptionbudgets/churn",
                     "/apis/argoproj.io/v1alpha1/namespaces/serving-staging/rollouts/churn"]
    for method, path, ctype, body in FakeApi.calls:
        assert method == "PATCH" and ctype == "application/apply-patch+yaml"
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(path).query) == {"fieldManager": ["mlplatform"], "force": ["true"]}
    assert json.loads(FakeApi.calls[-1][3])["kind"] == "Rollout"


def test_wait_reads_until_the_rollout_settles(api):
    FakeApi.rollouts = [PAUSED | {"status": {**PAUSED["status"], "observedGeneration": "6"}}, COMPLETED]
    ticks = iter(range(100))
    final = kube.wait_rollout(lambda: kube.get(api, "argoproj.io/v1alpha1", "Rollout", "serving-staging", "churn"),
                              settled, timeout_s=50, sleep=lambda s: None, clock=lambda: next(ticks))
    assert final == COMPLETED and len(FakeApi.calls) == 2
    assert kube.get(api, "argoproj.io/v1alpha1", "Rollout", "serving-staging", "gone") is None


def test_the_eks_token_is_a_presigned_sts_call_naming_the_cluster(aws):
    import boto3

    token = kube.eks_token("ml-dev", boto3.session.Session(region_name="us-east-1"))
    assert token.startswith("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(token.removeprefix("k8s-aws-v1.") + "==").decode()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["Action"] == ["GetCallerIdentity"] and "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0]


def test_rollback_target():
    versions = {"1": D1, "2": D2}
    assert rollback_target(versions, {"version": "2"}, None) == Version("1", D1)
    assert rollback_target(versions, {"version": "2"}, "1") == Version("1", D1)
    with pytest.raises(EvidenceError, match="what serves now"):
        rollback_target(versions, {"version": "2"}, "2")
    with pytest.raises(EvidenceError, match="never approved and live here"):
        rollback_target(versions, {"version": "2"}, "7")
    with pytest.raises(EvidenceError, match="nothing to go back to"):
        rollback_target({"1": D1}, {"version": "1"}, None)


def _record(tmp_path, shape, *extra):
    path = tmp_path / "rollout.json"
    path.write_text(json.dumps(shape))
    return CliRunner().invoke(cli, ["serve", "record", "--model", "churn", "--environment", "production",
                                    "--rollout", str(path), "--version", "2", "--digest", D2, *extra])


def test_serve_record_exits_0_on_deployment_and_3_on_rollback(ledger_env, tmp_path):
    release("churn", D1, COMMIT1, 20)
    record("provenance", "churn", D2, f"commit={COMMIT2}", "repository=https://github.com/acme/churn",
           "workflow=.github/workflows/train-evaluate.yml")
    record("approval", "churn", D2, "by=bob")
    rolled = _record(tmp_path, ABORTED, "--from-version", "1", "--from-digest", D1)
    assert rolled.exit_code == 3, rolled.output
    assert "v2 was rolled back (aborted: analysis churn-6f7d8c9a1-3-1 Failed); v1 keeps serving" in rolled.output
    done = _record(tmp_path, COMPLETED, "--from-version", "1", "--from-digest", D1)
    assert done.exit_code == 0 and done.stdout.strip().startswith("acme/ledger/churn/")
    half = _record(tmp_path, COMPLETED, "--from-version", "1")
    assert half.exit_code == 1 and "give both" in half.output
    paused = _record(tmp_path, PAUSED, "--from-version", "1", "--from-digest", D1)
    assert paused.exit_code == 1 and "the rollout is paused" in paused.output


def test_serve_status_answers_from_the_ledger_alone_and_says_so(ledger_env):
    release("churn", D1, COMMIT1, 20)
    result = CliRunner().invoke(cli, ["serve", "status", "--profile", "pragmatic", "--offline",
                                      "--set", "serving.models.churn.replicas=2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Stack dev") and "note: --offline: showing what the ledger says" in lines
    assert f"  ledger:  v1 {D1} live since" in result.output
    data = json.loads(CliRunner().invoke(cli, ["serve", "status", "--profile", "pragmatic", "--json",
                                               "--set", "serving.models.churn.replicas=2",
                                               "--cluster", "no-such-cluster"]).output)
    assert any(n.startswith("cluster not reachable") for n in data["notes"])
    assert data["models"][0]["ledger"]["digest"] == D1 and data["models"][0]["cluster"] is None


class Model(BaseHTTPRequestHandler):
    answers: list[int] = []
    seen: list[tuple[str, str, bytes]] = []

    def _go(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Model.seen.append((self.command, self.path, body))
        code = Model.answers.pop(0) if Model.answers else 200
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _go

    def log_message(self, *args):
        pass


def test_smoke_requests_go_to_the_root_service_and_fail_on_any_error():
    from mlplatform.stacks.project.serving import smoke, smoke_request

    spec = load_spec("growth", sets=["serving.models.churn.smoke.path=/invocations",
                                     "serving.models.churn.smoke.body={inputs: [[1, 2]]}",
                                     "serving.models.plain.runtime=mlflow"])
    method, url, body = smoke_request(spec.serving.models["churn"], "churn", "staging")
    assert (method, url) == ("POST", "http://churn.serving-staging.svc.cluster.local:80/invocations")
    assert json.loads(body) == {"inputs": [[1, 2]]}
    assert smoke_request(spec.serving.models["plain"], "plain", "staging")[1].endswith(":80/v2/health/ready")
    Model.answers, Model.seen = [200, 200, 503], []
    server = HTTPServer(("127.0.0.1", 0), Model)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        results = smoke(spec.serving.models["churn"], "churn", "staging", 3, base=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert [r.status for r in results] == [200, 200, 503] and [r.ok for r in results] == [True, True, False]
    assert Model.seen[0] == ("POST", "/invocations", b'{"inputs": [[1, 2]]}')


# -- serve status: what the stable pods really run --------------------------------------------------------
MLSERVER = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/images@sha256:" + "e" * 64


def recorded_pod(template: dict, name: str, pod_hash: str, model_image_id: str | None, deleting: bool = False) -> dict:
    """A pod as `kubectl get pods -o json` shows one of the Rollout's: its rendered template plus the status
    the kubelet writes (the modelcar init container done, its imageID the pulled digest; none while pulling)."""
    spec = template["spec"]
    meta = {"name": name, "namespace": "serving-production", "labels": {**template["metadata"]["labels"],
            "rollouts-pod-template-hash": pod_hash}, "annotations": template["metadata"].get("annotations", {})}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-07T12:00:00Z"

    def state(c: dict, image_id: str | None, init: bool) -> dict:
        done = {"terminated": {"exitCode": 0, "reason": "Completed"}} if init else {"running": {}}
        return {"name": c["name"], "image": c["image"], "imageID": image_id or "", "ready": image_id is not None,
                "restartCount": 0, "state": done if image_id else {"waiting": {"reason": "PodInitializing"}}}

    inits = spec.get("initContainers") or []
    status = {"phase": "Running" if model_image_id else "Pending",
              "initContainerStatuses": [state(c, model_image_id, True) for c in inits],
              "containerStatuses": [state(c, model_image_id if not inits else MLSERVER, False)
                                    for c in spec["containers"]]}  # fmt: skip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def pod_list(model="churn", stable=D1, canary=D2, runtime_sets=()) -> tuple[dict, dict]:
    spec = load_spec("growth", sets=["serving.models.churn.replicas=2", *runtime_sets])
    objs = render(spec, "dev", Release(model, "2", canary, f"{REPO}@{canary}"), ["production"])["production"]
    template = next(o for o in objs if o["kind"] == "Rollout")["spec"]["template"]
    items = [
        recorded_pod(template, f"{model}-5d8c9b7f4-a", "5d8c9b7f4", f"{REPO}@{stable}"),
        recorded_pod(template, f"{model}-5d8c9b7f4-b", "5d8c9b7f4", f"docker-pullable://{REPO}@{stable}"),
        recorded_pod(template, f"{model}-5d8c9b7f4-c", "5d8c9b7f4", None),  # still pulling
        recorded_pod(template, f"{model}-5d8c9b7f4-d", "5d8c9b7f4", f"{REPO}@{canary}", deleting=True),
        recorded_pod(template, f"{model}-6f7d8c9a1-a", "6f7d8c9a1", f"{REPO}@{canary}"),  # the canary
    ]
    return template, {"apiVersion": "v1", "kind": "PodList", "items": items}


def test_stable_pod_digests_read_the_model_images_pulled_digest():
    template, pods = pod_list()
    assert [c["name"] for c in template["spec"]["initContainers"]] == ["model"]
    live = stable_pod_digests(ABORTED, pods)  # stableRS 5d8c9b7f4, the canary 6f7d8c9a1 failed
    assert live == {"stable_hash": "5d8c9b7f4", "pods": 3, "digests": {D1: 2}, "unresolved": ["churn-5d8c9b7f4-c"]}
    # The `image` runtime: the released image is the server container.
    _, own = pod_list(runtime_sets=["serving.models.churn.runtime=image"])
    assert "initContainers" not in own["items"][0]["spec"]
    assert stable_pod_digests(ABORTED, own)["digests"] == {D1: 2}
    assert stable_pod_digests({"status": {}}, pods)["pods"] == 0  # no stable ReplicaSet yet
    with pytest.raises(Exception, match="^pods: is not a Kubernetes PodList"):
        stable_pod_digests(ABORTED, {"items": "x"})


def test_serve_status_shows_the_stable_pods_live_digest_next_to_the_ledger(ledger_env, api, monkeypatch):
    from mlplatform.cli.commands import serve as serve_cmd

    release("churn", D1, COMMIT1, 20)
    monkeypatch.setattr(serve_cmd, "_cluster", lambda src, name: api)
    args = ["serve", "status", "--profile", "pragmatic", "--set", "serving.models.churn.replicas=2"]
    FakeApi.rollouts, FakeApi.pods = [ABORTED], pod_list()[1]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"  live:    stable pods run {D1} (2 of 3); 1 not pulled yet (kubelet imageID)" in result.output
    assert f"  ledger:  v1 {D1} live since" in result.output and "warning" not in result.output
    pods_call = [p for m, p, _, _ in FakeApi.calls if "/pods" in p]
    assert pods_call == ["/api/v1/namespaces/serving-production/pods?labelSelector=mlplatform.io%2Fmodel%3Dchurn"]
    # The stable pods run something else than the ledger says: said, in the JSON too.
    FakeApi.rollouts, FakeApi.pods = [ABORTED], pod_list(stable=D2, canary=D1)[1]
    data = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output)
    row = data["models"][0]
    assert row["cluster"]["live"]["digests"] == {D2: 2} and row["live_matches_ledger"] is False
    FakeApi.rollouts = [ABORTED]
    assert "warning: the stable pods do not run what the ledger says is live" in CliRunner().invoke(cli, args).output
