"""Which MLflow model a training run produced, as a URI MLflow 3 can load and register.

MLflow 3's `mlflow.<flavor>.log_model(model, name="model")` makes a *logged model* (`models:/m-<id>`)
whose files live under the logged model's own artifact location, not under the run's `model/` folder.
Registering `runs:/<run>/model` with `create_model_version` stores that run path as the version's
source, which MLflow 3 resolves only through a fallback, one folder off: `models:/<name>@production`
then fails to load ("Could not find an MLmodel configuration file"). `train-evaluate.yml` downloads,
pushes and registers the URI `candidate_model_uri()` returns instead, with `mlflow.register_model`,
which records the logged model's id (and its run) on the version.
"""

from __future__ import annotations

from typing import Any


def candidate_model_uri(client: Any, run_id: str, name: str) -> str:
    """`models:/<model_id>` of the model `run_id` logged under `name` (the last one, by step, when it logged
    several); `runs:/<run_id>/<name>` for a model logged the MLflow 2 way, as run artifacts with an MLmodel.

    LookupError, one line naming the fix, when the run logged no such model."""
    run = client.get_run(run_id)
    found, token = [], None
    while True:
        page = client.search_logged_models(
            experiment_ids=[run.info.experiment_id], filter_string=f"name = '{name}'", page_token=token
        )
        found += [m for m in page if m.source_run_id == run_id]
        token = page.token
        if not token:
            break
    if found:
        steps = {o.model_id: o.step for o in (run.outputs.model_outputs if run.outputs else [])}
        best = max(found, key=lambda m: (steps.get(m.model_id, -1), m.creation_timestamp or 0))
        return f"models:/{best.model_id}"
    if any(a.path == f"{name}/MLmodel" for a in client.list_artifacts(run_id, name)):
        return f"runs:/{run_id}/{name}"
    raise LookupError(
        f"MLflow run {run_id} logged no model named {name!r}: log it in the training code with "
        f"mlflow.<flavor>.log_model(model, name={name!r}) (or set --model-artifact-path to the name it uses)"
    )
