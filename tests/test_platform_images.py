"""The platform's own images: every image the stack deploys has a Dockerfile on a pinned base that installs what
its program imports (shown by running that program with everything else unimportable), and the generated
`platform-images.yml` builds and pushes each under the tag the stack deploys, leaving an existing tag alone
(its AWS calls run against moto; docker is not on this machine, so its command lines are recorded)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import boto3
import pytest
import yaml

from conftest import one
from mlplatform.components import versions
from mlplatform.stacks.config.spec import load_spec
from mlplatform.stacks.errors import SpecError
from mlplatform.stacks.project import images
from mlplatform.stacks.project.ci import WorkflowOptions, render_workflows

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
DEPS = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["drift"]


def dockerfile(name: str) -> str:
    from importlib import resources

    image = images.IMAGES[name]
    return resources.files(image.package).joinpath(image.dockerfile).read_text()


def test_every_image_the_stack_deploys_is_built_by_the_workflow():
    from mlplatform.stacks.program import plan
    from mlplatform.stacks.project.serving import Release, render

    spec = load_spec("growth", overrides={"serving": {"models": {"churn": {}}}})
    p = plan(spec)
    deployed = {one(p, "kubernetes:batch/v1:CronJob", "ml-dev-drift-churn").inputs["spec"]["jobTemplate"]["spec"]
                ["template"]["spec"]["containers"][0]["image"]}
    deployed |= {c["image"] for r in p.of_type("kubernetes:batch/v1:CronJob") if "observer" in r.name
                 for c in r.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]}
    digest = "sha256:" + "c" * 64
    (rollout,) = [o for o in render(spec, "dev", Release("churn", "1", digest, f"r/m@{digest}"))["production"]
                  if o["kind"] == "Rollout"]
    deployed.add(rollout["spec"]["template"]["spec"]["containers"][0]["image"])
    tags = {image.rsplit(":", 1)[1] for image in deployed}
    assert tags == {i.tag for i in images.IMAGES.values()}
    assert all(image.split(":")[0].endswith("/mlplatform/dev/images") for image in deployed)
    wf = yaml.safe_load(render_workflows(spec, WorkflowOptions(model_owners=["@a/b"]))["platform-images.yml"])
    assert wf["jobs"]["build"]["strategy"]["matrix"]["image"] == list(images.IMAGES)
    assert wf["env"]["IMAGES_REPOSITORY"] == "mlplatform/dev/images"


@pytest.mark.parametrize("name", list(images.IMAGES))
def test_dockerfiles_are_pinned_non_root_and_install_this_package_without_its_dependencies(name):
    text = dockerfile(name)
    base = versions.SERVING_BASE_IMAGE if name == "serving" else versions.EVIDENCE_OBSERVER_BASE_IMAGE
    assert f"ARG BASE={base}\n" in text and "FROM ${BASE}\n" in text and re.search(r":\d+\.\d+\.\d+-", base)
    assert re.search(r"^ARG MLPLATFORM=\"?mlplatform==" + re.escape(VERSION) + r"\"?$", text, re.M)
    assert re.search(r'pip install --no-deps "\$\{?MLPLATFORM\}?"', text)
    for pin in re.findall(r'"([a-z][a-z0-9_.\[\]-]*[<>=][^"]*)"', text):
        package = re.split(r"[<>=\[]", pin)[0]
        if package in {"mlplatform", "mlserver", "mlserver-mlflow", "mlflow", "scikit-learn"}:
            continue  # the serving image's own pins (test_modelcar checks them against versions.py)
        (declared,) = [d for d in DEPS if re.split(r"[<>=\[ ]", d)[0].lower() == package]
        assert pin == declared, f"{name}: {pin} differs from pyproject.toml's {declared}"
    assert re.search(r"^USER \d+:\d+$", text, re.M)


def test_the_drift_image_runs_what_the_cronjob_asks():
    """The CronJob gives only arguments (drift run ...): the image's entry point is `mlplatform`, as its uid."""
    from mlplatform.stacks.program import plan

    p = plan(load_spec("pragmatic", overrides={"serving": {"models": {"churn": {}}}}))
    pod = one(p, "kubernetes:batch/v1:CronJob", "ml-dev-drift-churn").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert "command" not in c and c["args"][:2] == ["drift", "run"]
    text = dockerfile("drift")
    assert 'ENTRYPOINT ["mlplatform"]' in text
    assert f"USER {pod['securityContext']['runAsUser']}:" in text


# What each image does NOT install of the package's dependencies (the serving image holds MLServer's and
# MLflow's own: Jinja2, click, PyYAML... so only these are surely absent there): importing any of them fails.
ABSENT = ["pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_random", "ruamel", "questionary",
          "grafana_foundation_sdk", "kubernetes"]
NOT_IN = {
    "drift": [*ABSENT, "jinja2", "jsonschema"],
    "observer": [*ABSENT, "jinja2", "jsonschema", "croniter"],
    "serving": [*ABSENT, "croniter"],
}
PROGRAMS = {
    # the drift job: its command, and what a run imports (the job, Evidently, the ledger, PostgreSQL, the gateway)
    "drift": "from mlplatform.cli.main import cli\n"
             "import mlplatform.stacks.monitoring.job, mlplatform.stacks.evidence.ledger, psycopg, prometheus_client\n"
             "from evidently.presets import DataDriftPreset\n"
             "cli(['drift', 'run', '--help'])",
    "observer": "from mlplatform.cli.main import cli\nimport mlplatform.stacks.evidence.observer\n"
                "cli(['evidence', 'observe', '--help'])",
    # the serving image's prediction-log hook, as the runtime loads it
    "serving": "from importlib.metadata import entry_points\n"
               "(ep,) = entry_points(group='mlplatform.prediction')\nep.load()\nprint('hook loaded')",
}


def blocker(absent: list[str]) -> str:
    return f"""
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {absent!r}:
            raise ImportError(name + " is not in the image")
sys.meta_path.insert(0, Absent())
"""


@pytest.mark.parametrize("image", list(images.IMAGES))
def test_each_image_program_runs_without_the_packages_it_does_not_install(image):
    code = blocker(NOT_IN[image]) + PROGRAMS[image]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    blocked = subprocess.run([sys.executable, "-c", blocker(NOT_IN[image]) + "import pulumi"], capture_output=True,
                             text=True)
    assert "pulumi is not in the image" in blocked.stderr  # the blocker works
    if image != "serving":  # what the Dockerfile installs covers what was blocked from the package's dependencies
        installed = {re.split(r"[<>=\[]", pin)[0].replace("-", "_").lower()
                     for pin in re.findall(r'"([a-z][a-z0-9_.\[\]-]*[<>=][^"]*)"', dockerfile(image))}
        for dep in PYPROJECT["project"]["dependencies"]:
            module = {"pyyaml": "yaml", "ruamel.yaml": "ruamel", "grafana-foundation-sdk": "grafana_foundation_sdk",
                      "pulumi-aws": "pulumi_aws", "pulumi-kubernetes": "pulumi_kubernetes",
                      "pulumi-random": "pulumi_random"}.get(re.split(r"[<>=\[ ]", dep)[0].lower(),
                                                            re.split(r"[<>=\[ ]", dep)[0].lower())
            name = re.split(r"[<>=\[ ]", dep)[0].replace("-", "_").lower()
            assert (module in NOT_IN[image]) != (name in installed), f"{image}: {dep} neither installed nor blocked"


def test_prepare_lays_out_the_build_and_names_the_package_it_installs(tmp_path, monkeypatch):
    with pytest.raises(SpecError, match=r"^mlplatform: is installed from a local folder \(file://"):
        images.prepare("drift", tmp_path)  # this checkout's editable install: an image build cannot fetch it

    class Dist:
        version = VERSION

        def __init__(self, direct):
            self.direct = direct

        def read_text(self, name):
            return self.direct if name == "direct_url.json" else None

    monkeypatch.setattr(images.metadata, "distribution", lambda _: Dist(None))
    assert images.package_requirement() == f"mlplatform=={VERSION}"
    git = {"url": "https://github.com/acme/mlplatform", "vcs_info": {"vcs": "git", "commit_id": "a" * 40}}
    monkeypatch.setattr(images.metadata, "distribution", lambda _: Dist(json.dumps(git)))
    assert images.package_requirement() == f"mlplatform @ git+https://github.com/acme/mlplatform@{'a' * 40}"
    folder = images.prepare("serving", tmp_path)
    assert (folder / "tag").read_text() == versions.SERVING_MLSERVER_TAG
    assert (folder / "Dockerfile").read_text() == dockerfile("serving")
    assert sorted(p.name for p in (folder / "context").iterdir()) == ["mlplatform_runtime.py"]  # what it COPYs
    assert re.findall(r"^COPY (\S+) ", dockerfile("serving"), re.M) == ["mlplatform_runtime.py"]
    assert list((images.prepare("drift", tmp_path) / "context").iterdir()) == []
    with pytest.raises(SpecError, match="^image: unknown 'web'; use one of observer, drift, serving"):
        images.prepare("web", tmp_path)


@pytest.fixture
def build_steps():
    wf = yaml.safe_load(render_workflows(load_spec("pragmatic"), WorkflowOptions(model_owners=["@a/b"]))
                        ["platform-images.yml"])
    named = {s["name"]: s for s in wf["jobs"]["build"]["steps"]}
    layout = named["Lay out the build, log in to the registry, look for the tag"]["run"]
    (body,) = re.findall(r"<<'PY'\n(.*?)\nPY(?:\n|$)", layout, re.S)
    return wf, body, named["Build and push by digest"]["run"]


def test_the_workflow_pushes_a_new_tag_and_leaves_an_existing_one(build_steps, aws, tmp_path, monkeypatch):
    wf, body, build = build_steps
    monkeypatch.setattr(images, "package_requirement", lambda: f"mlplatform=={VERSION}")
    ecr = boto3.client("ecr", region_name="us-east-1")
    ecr.create_repository(repositoryName=wf["env"]["IMAGES_REPOSITORY"], imageTagMutability="IMMUTABLE")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                                      "digest": "sha256:" + "0" * 64}, "layers": []})
    ecr.put_image(repositoryName=wf["env"]["IMAGES_REPOSITORY"], imageManifest=manifest,
                  imageTag=versions.EVIDENCE_OBSERVER_TAG)
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path))
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("IMAGES_REPOSITORY", wf["env"]["IMAGES_REPOSITORY"])
    # docker is not on this machine: a stand-in records what the step asks of it
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker").write_text('#!/bin/sh\necho "$*" >> "$RUNNER_TEMP/docker.log"\n'
                                   'if [ "$1" = inspect ]; then echo "repo@sha256:feed"; fi\n')
    (bindir / "docker").chmod(stat.S_IRWXU)
    summary = tmp_path / "summary.md"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "GITHUB_STEP_SUMMARY": str(summary)}
    for image in ("observer", "drift"):
        monkeypatch.setenv("IMAGE", image)
        exec(compile(body, "<platform-images.yml>", "exec"), {})  # noqa: S102 - the workflow's own Python
        assert (tmp_path / "ecr-password").stat().st_mode & 0o077 == 0
        result = subprocess.run(["bash", "-c", build], env={**env, "IMAGE": image}, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert not (tmp_path / "ecr-password").exists()  # the registry password does not outlive the step
    host = f"{boto3.client('sts').get_caller_identity()['Account']}.dkr.ecr.us-east-1.amazonaws.com"
    repository = f"{host}/{wf['env']['IMAGES_REPOSITORY']}"
    observer_digest = ecr.describe_images(repositoryName=wf["env"]["IMAGES_REPOSITORY"])["imageDetails"][0]["imageDigest"]
    lines = summary.read_text().splitlines()
    assert lines[0] == f"{repository}:{versions.EVIDENCE_OBSERVER_TAG} exists: {observer_digest} (immutable tag, left alone)"
    assert lines[1] == f"{repository}:{versions.DRIFT_JOB_TAG} pushed: repo@sha256:feed"
    drift = tmp_path / "drift"
    assert (tmp_path / "docker.log").read_text().splitlines() == [
        f"login --username AWS --password-stdin {host}",
        f"build --pull --build-arg MLPLATFORM=mlplatform=={VERSION} -f {drift}/Dockerfile "
        f"-t {repository}:{versions.DRIFT_JOB_TAG} {drift}/context",
        f"push {repository}:{versions.DRIFT_JOB_TAG}",
        "inspect --format {{index .RepoDigests 0}} " + f"{repository}:{versions.DRIFT_JOB_TAG}",
    ]
