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
from mlplatform.stacks.project.serving import Release, render
from test_evidence import COMMIT1, COMMIT2, D1, D2, ledger_env, record, release  # noqa: F401
from test_serving_records import ABORTED, COMPLETED, PAUSED

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/models"


class FakeApi(BaseHTTPRequestHandler):
    calls: list[tuple[str, str, str, bytes]] = []
    rollouts: list[dict] = []

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
        if FakeApi.rollouts:
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
