"""The platform's own images, which the stack deploys from its `images` ECR repository by tag (immutable tags: a
tag pins one digest), and what the generated `platform-images.yml` workflow builds:

    observer   the evidence observer CronJob and the budget hold job   stacks/evidence/observer.Dockerfile
    drift      the drift CronJob of each served model                  stacks/monitoring/drift.Dockerfile
    serving    the `mlflow` runtime (MLServer + runtime + the hook)    stacks/templates/serving/mlserver.Dockerfile

Each installs this package without its dependencies (`--build-arg MLPLATFORM=<requirement>`): the version (or
URL) the workflow's own environment runs, so the image and the stack agree. `prepare` lays one image's build out
in a folder: Dockerfile, build context, tag, requirement.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from mlplatform.components.versions import DRIFT_JOB_TAG, EVIDENCE_OBSERVER_TAG, SERVING_MLSERVER_TAG

from ..errors import SpecError


@dataclass(frozen=True)
class PlatformImage:
    name: str
    tag: str
    package: str  # the package holding the Dockerfile
    dockerfile: str
    context: str | None = None  # a folder of `package` sent as the build context; None: none needed


IMAGES = {
    "observer": PlatformImage("observer", EVIDENCE_OBSERVER_TAG, "mlplatform.stacks.evidence", "observer.Dockerfile"),
    "drift": PlatformImage("drift", DRIFT_JOB_TAG, "mlplatform.stacks.monitoring", "drift.Dockerfile"),
    "serving": PlatformImage(
        "serving",
        SERVING_MLSERVER_TAG,
        "mlplatform.stacks",
        "templates/serving/mlserver.Dockerfile",
        "templates/serving",
    ),
}


def package_requirement() -> str:
    """This process's mlplatform as a pip requirement: `mlplatform==<version>` from an index, or the URL (a git
    URL at its commit) it was installed from (PEP 610 direct_url.json)."""
    dist = metadata.distribution("mlplatform")
    direct = dist.read_text("direct_url.json")
    if not direct:
        return f"mlplatform=={dist.version}"
    info = json.loads(direct)
    url = str(info.get("url", ""))
    vcs = info.get("vcs_info")
    if vcs:
        return f"mlplatform @ {vcs['vcs']}+{url}@{vcs['commit_id']}"
    if url.startswith("file:"):
        raise SpecError(
            "mlplatform",
            f"is installed from a local folder ({url}), which an image build cannot fetch",
            "install it from an index or a git URL (requirements.txt) where the images are built",
        )
    return f"mlplatform @ {url}"


def prepare(name: str, out: str | Path) -> Path:
    """Lay out the build of image `name` in `out/<name>/`: Dockerfile, context/, tag, requirement. Returns the folder."""
    if name not in IMAGES:
        raise SpecError("image", f"unknown {name!r}", f"use one of {', '.join(IMAGES)}")
    image = IMAGES[name]
    folder = Path(out) / name
    context = folder / "context"
    if folder.exists():
        shutil.rmtree(folder)
    context.mkdir(parents=True)
    root = resources.files(image.package)
    (folder / "Dockerfile").write_text(root.joinpath(image.dockerfile).read_text())
    if image.context is not None:
        for item in root.joinpath(image.context).iterdir():
            if item.is_file() and not item.name.endswith(".Dockerfile"):
                (context / item.name).write_bytes(item.read_bytes())
    (folder / "tag").write_text(image.tag)
    (folder / "requirement").write_text(package_requirement())
    return folder
