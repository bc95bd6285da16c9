"""Shared test helpers: run programs offline under the Pulumi mock monitor."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest

from mlplatform.stacks.plan.offline import Plan, run_offline

# MLflow's telemetry has no way out of this machine, and MLflow 3.15 then unsets its session variable in one
# thread while a request reads it in another (a KeyError now and then): off here and in every process started
# from here (servers and workflow steps that build their own environment set it themselves).
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


def plan_of(program: Callable[[], Any], region: str = "us-east-1", **kw: Any) -> Plan:
    """Run `program` (which creates resources) offline and return its Plan."""
    return run_offline(program, region=region, **kw)


@pytest.fixture(autouse=True)
def _piped_like_a_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run as a user's piped command: no terminal size in the environment (pytest-xdist workers
    set COLUMNS=80 and LINES=24). A test about a terminal width sets COLUMNS itself."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture
def offline() -> Callable[..., Plan]:
    return plan_of


PROFILES = ("pragmatic", "growth", "full")


class _ProfilePlans(dict):
    """profile -> its default Plan (stack dev, us-east-1), each built on first use, once per session."""

    def __missing__(self, profile: str) -> Plan:
        from mlplatform.stacks.program import plan
        from mlplatform.stacks.config.spec import load_spec

        self[profile] = plan(load_spec(profile))
        return self[profile]


@pytest.fixture(scope="session")
def profile_plans() -> dict[str, Plan]:
    """The three profiles' default plans, shared by every test module: build each once per session.
    Tests read them; none may change them (a Plan is data)."""
    return _ProfilePlans()


def one(plan: Plan, type_: str, name: str | None = None):
    """The single resource of `type_` (and `name`, when given) in `plan`; fails loudly otherwise."""
    found = [r for r in plan.resources if r.type == type_ and (name is None or r.name == name)]
    assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
    return found[0]


def k8s_objects(plan: Plan) -> list[dict]:
    """The Kubernetes objects a plan creates (not Helm releases, not providers), as manifests."""
    out = []
    for r in plan.resources:
        if r.custom and r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm.sh"):
            manifest = {k: v for k, v in r.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec", "data",
                                                                   "stringData", "rules", "roleRef", "subjects",
                                                                   "type", "immutable")}
            out.append(manifest)
    return out


def helm_values(plan: Plan, chart: str) -> list[dict]:
    """The `values` of every Helm release of `chart` in the plan."""
    return [r.inputs.get("values", {}) for r in plan.resources
            if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("chart", "").rsplit("/", 1)[-1] == chart]


def assert_valid_k8s(manifest: dict, strict: bool = True) -> None:
    """kubernetes-validate (a validator we did not write) against the pinned Kubernetes version."""
    import kubernetes_validate

    from mlplatform.components.versions import KUBERNETES_VERSION

    kubernetes_validate.validate(manifest, f"{KUBERNETES_VERSION}.0", strict=strict)


# -- a real moto server process for the boto3 code (state backend, preflight, orphan sweep) --------
@pytest.fixture(scope="session")
def moto_server():
    """`python -m moto.server` on 127.0.0.1 as a subprocess for the whole session; yields its URL."""
    import moto_process

    try:
        proc, url = moto_process.start(timeout_s=30)
    except RuntimeError as e:
        pytest.fail(str(e))
    yield url
    moto_process.stop(proc)


@pytest.fixture
def aws(moto_server, monkeypatch):
    """Fake credentials and AWS_ENDPOINT_URL pointing boto3 at the moto server, reset for each test."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10).close()
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # moto answers 500 for APIs it lacks: don't retry those
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance metadata service
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return moto_server


# -- each distinct stack planned once per test session, across the xdist workers ------------------------
PLAN_MEMO_DIR = "MLPLATFORM_TEST_PLAN_MEMO"  # set by the session's first process (pytest_configure below)


class _PlanMemo:
    """`stacks.program.plan`, memoised on (spec, stack, project) for the test session.

    ~110 CLI tests plan a stack the suite has planned before (the profiles' defaults, a tour's project,
    every profile in every region for `cost` and the README's table); a plan is a pure function of the
    validated spec and the stack and project names (the mock monitor's ids are derived from names), so a
    second request gets a fresh copy of the first Plan. The xdist workers share one folder of pickled
    plans (a lock per key: the first worker to ask plans, the others wait and read), so each distinct
    stack is planned once per session, whichever worker asks. A spec that fails to plan is not
    remembered: its error is raised again each time."""

    def __init__(self, real: Callable[..., Plan]):
        self.real, self.plans, self.hits = real, {}, 0

    def __call__(self, spec: Any, stack: str = "dev", project: str = "mlplatform") -> Plan:
        import pickle

        key = (type(spec).__qualname__, spec.model_dump_json(), stack, project)
        if key in self.plans:
            self.hits += 1
        else:
            self.plans[key] = self._shared(key, lambda: pickle.dumps(self.real(spec, stack=stack, project=project)))
        return pickle.loads(self.plans[key])  # a fresh copy: no caller's edits reach another

    def _shared(self, key: tuple[str, ...], make: Callable[[], bytes]) -> bytes:
        import fcntl
        import hashlib

        folder = os.environ.get(PLAN_MEMO_DIR)
        if not folder or not Path(folder).is_dir():
            return make()
        name = hashlib.sha256(repr(key).encode()).hexdigest()
        done = Path(folder, f"{name}.pickle")
        with open(Path(folder, f"{name}.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if done.exists():
                self.hits += 1
                return done.read_bytes()
            data = make()
            part = done.with_suffix(".part")
            part.write_bytes(data)
            part.replace(done)
            return data


def _install_plan_memo() -> _PlanMemo:
    """Installed when conftest is imported, before any test module binds `plan` by name."""
    from mlplatform.stacks import program

    if not isinstance(program.plan, _PlanMemo):
        program.plan = _PlanMemo(program.plan)  # type: ignore[method-assign]
    return program.plan


PLAN_MEMO = _install_plan_memo()


def pytest_configure(config: pytest.Config) -> None:
    """The session's first process (xdist's controller, or the only one) makes the shared plan folder;
    the workers it starts inherit its environment."""
    import tempfile

    if not hasattr(config, "workerinput") and PLAN_MEMO_DIR not in os.environ:
        folder = tempfile.mkdtemp(prefix="mlplatform-test-plans-")
        os.environ[PLAN_MEMO_DIR] = folder
        config.stash[_MEMO_FOLDER] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    folder = config.stash.get(_MEMO_FOLDER, None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(PLAN_MEMO_DIR, None)


_MEMO_FOLDER = pytest.StashKey[str]()


# The files that take longest (seconds of one worker, measured on the 2-core machine), run first: a file
# runs in one worker (--dist loadfile), so a long file started last leaves the other worker idle at the
# end. xdist's own reorder (most tests first) is off in addopts; every other file keeps its place.
SLOW_FILES = ("test_workflows.py", "test_registration.py", "test_readme.py", "test_serving_runtime.py", "test_prediction_hook.py",
              "test_check.py", "test_evidence.py", "test_upgrade.py", "test_cost.py", "test_queueing.py")  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))  # stable: the rest keep order
