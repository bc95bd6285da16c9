"""`mlplatform serve render | status | rollback`: released models as live services (stacks/project/serving.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .. import options, printers
from . import evidence as evidence_cli


@click.group()
def serve() -> None:
    """Serve released models: render their canary Rollouts, show what is live, roll back."""


@serve.command("render")
@options.stack_source
@click.option(
    "--model", "models", multiple=True, help="A model of serving.models (repeatable; default: every released one)."
)
@click.option(
    "--environment", "environments", multiple=True, help="staging or production (repeatable; default: the stack's)."
)
@click.option(
    "--releases",
    default=".",
    type=click.Path(file_okay=False, exists=True),
    help="The repository checkout holding models/<name>/release.yaml (default: the current folder).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Write <env>/<model>.yaml here.")
@options.force
@options.as_json
def render_cmd(
    src,
    models,
    environments,
    releases,
    out_dir,
    force,
    as_json,
) -> None:
    """Rollout, Services, internal ALB Ingress, PodMonitor and PDB of each released model, as YAML for
    `kubectl apply -f -` (the first line, a comment, says which stack was read)."""
    from mlplatform.stacks.errors import UsageError
    from mlplatform.stacks.files import write_atomic
    from mlplatform.stacks.project.serving import released_models, render_files

    chosen = list(models) or released_models(src.spec, releases)
    if not chosen:
        raise UsageError(
            "--model",
            f"no served model has a release in {Path(releases).resolve()}",
            "merge a release pull request first, or pass --releases DIR (the repository checkout)",
        )
    files = render_files(src.spec, src.stack, chosen, releases, list(environments) or None)
    if as_json:
        import yaml

        docs = {k: [d for d in yaml.safe_load_all(v) if d] for k, v in files.items()}
        click.echo(json.dumps({"source": src.to_dict(), "files": docs}, indent=2, sort_keys=True))
        return
    if out_dir:
        click.echo(src.describe())
        existing = [Path(out_dir) / rel for rel in files if (Path(out_dir) / rel).exists()]
        if existing and not force:  # refuse before writing anything
            raise UsageError("--out", f"{existing[0]} already exists", "pass --force to overwrite, or another --out")
        for rel, text in files.items():
            path = Path(out_dir) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text, force=True)
            click.echo(f"wrote {path}")
        return
    click.echo(f"# {src.describe()}")
    click.echo("".join(files.values()), nl=False)


@serve.command("record")
@click.option("--model", required=True, help="The model the rollout served.")
@click.option("--environment", required=True, help="staging or production.")
@click.option(
    "--rollout",
    "rollout_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The finished Rollout: `kubectl get rollout NAME -n NAMESPACE -o json`.",
)
@click.option("--version", required=True, help="The model version the rollout rolled out.")
@click.option("--digest", required=True, metavar="sha256:HEX", help="Its digest.")
@click.option("--from-version", default=None, help="The version that served before (none on a first rollout).")
@click.option("--from-digest", default=None, metavar="sha256:HEX", help="Its digest.")
@click.option("--manual", is_flag=True, help="A `serve rollback`: a completed rollout is a rollback record.")
@click.option(
    "--predicate",
    "predicate_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="More predicate fields (JSON), e.g. the workflow run and the approval's record key.",
)
@evidence_cli.ledger_options
@evidence_cli.evidence_errors
def record_cmd(
    model,
    environment,
    rollout_file,
    version,
    digest,
    from_version,
    from_digest,
    manual,
    predicate_file,
    ledger_url,
    key_id,
    region,
    directory,
    stack,
    as_json,
) -> None:
    """Record what a finished rollout did: a deployment (completed; exit 0) or a rollback (aborted or
    timed out: the stable model keeps serving; exit 3). An unfinished rollout records nothing (exit 1)."""
    from mlplatform.stacks.errors import PolicyRefusal
    from mlplatform.stacks.evidence import records as R
    from mlplatform.stacks.evidence.errors import EvidenceError
    from mlplatform.stacks.evidence.rollouts import Version, record_rollout

    R.check_model(model)
    R.check_digest(digest)
    if (from_version is None) != (from_digest is None):
        raise EvidenceError(
            "--from-version/--from-digest", "only one is given", "give both, or neither on a first rollout"
        )
    previous = Version(from_version, R.check_digest(from_digest, "--from-digest")) if from_digest else None
    try:
        rollout = json.loads(Path(rollout_file).read_text(encoding="utf-8"))
    except ValueError as e:
        raise EvidenceError(
            "--rollout", f"{rollout_file} is not JSON ({e})", "pass `kubectl get rollout -o json`"
        ) from None
    ledger = evidence_cli._open_ledger(ledger_url, key_id, region, directory, stack)
    o, rec = record_rollout(
        ledger,
        model,
        rollout,
        environment,
        Version(version, digest),
        previous,
        "manual" if manual else None,
        R.read_predicate(predicate_file),
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ledger": ledger.location.url,
                    "state": o.state,
                    "kind": rec.kind,
                    "key": rec.key,
                    "subject": rec.subject,
                    "analysis": o.analysis,
                },
                indent=2,
            )
        )
    else:
        printers.ledger_header(ledger, as_json=False, err=True)
        click.echo(rec.key)
    if rec.kind == "rollback" and not manual:
        failed = f"analysis {o.analysis['name']} {o.analysis['status']}" if o.analysis else o.message
        raise PolicyRefusal(
            f"{model} {environment}",
            f"v{version} was rolled back ({o.state}: {failed}); v{from_version or '-'} keeps serving",
            "see the analysis run (kubectl argo rollouts get rollout) and the ledger's rollback record",
        )


def _cluster(src, cluster_name: str | None):
    """The Kubernetes API of the stack's cluster: this pod's service account, else EKS with AWS credentials."""
    from mlplatform.stacks.cloud import kube
    from mlplatform.stacks.program import base_name

    inside = kube.in_cluster()
    if inside is not None:
        return inside
    spec = src.spec
    name = cluster_name or (spec.cluster.existing.name if spec.cluster.existing else base_name(src.stack))
    return kube.eks(name, src.region)


def _release(spec, model: str, releases: str, version: str | None, digest: str | None, repository: str | None = None):
    from mlplatform.stacks.errors import UsageError
    from mlplatform.stacks.evidence import records as R
    from mlplatform.stacks.project.serving import Release, read_release_file, served_model

    served_model(spec, model)
    if (version is None) != (digest is None):
        raise UsageError(
            "--version/--digest", "only one is given", "give both (an earlier approved version), or neither"
        )
    if repository and version and digest:  # the environment mode's promote job: no release file on main
        return Release(model, version, R.check_digest(digest), f"{repository}@{digest}")
    release = read_release_file(model, releases)
    return release.at(version, digest) if version and digest else release


def _roll_out(src, release, environment: str, cluster_name: str | None, timeout: float, rollout_out: str | None):
    """Apply the rendered objects, wait for the Rollout; the last Rollout read."""
    from mlplatform.stacks.cloud import kube
    from mlplatform.stacks.evidence.rollouts import settled
    from mlplatform.stacks.project.serving import render

    objects = render(src.spec, src.stack, release, [environment])[environment]
    api = _cluster(src, cluster_name)
    for o in objects:
        kube.apply(api, o)
    rollout = next(o for o in objects if o["kind"] == "Rollout")
    meta = rollout["metadata"]
    final = kube.wait_rollout(
        lambda: kube.get(api, rollout["apiVersion"], "Rollout", meta["namespace"], meta["name"]), settled, timeout
    )
    if rollout_out and final is not None:
        Path(rollout_out).write_text(json.dumps(final, indent=2) + "\n")
    return final


_cluster_opt = click.option("--cluster", "cluster_name", default=None, help="EKS cluster (default: the stack's).")
_timeout_opt = click.option(
    "--timeout", type=float, default=1800, show_default=True, help="Seconds to wait for the rollout to finish."
)
_releases_opt = click.option(
    "--releases",
    default=".",
    type=click.Path(file_okay=False, exists=True),
    help="The repository checkout holding models/<name>/release.yaml (default: the current folder).",
)


@serve.command("apply")
@options.stack_source
@click.option("--model", required=True, help="A model of serving.models with a release.")
@click.option("--environment", required=True, help="staging or production.")
@_releases_opt
@click.option("--version", default=None, help="Serve this earlier approved version instead (with --digest).")
@click.option("--digest", default=None, metavar="sha256:HEX", help="Its digest.")
@click.option(
    "--repository", default=None, help="With --version/--digest: the models repository URL (no release file needed)."
)
@_cluster_opt
@_timeout_opt
@click.option("--rollout-out", default=None, type=click.Path(dir_okay=False), help="Write the final Rollout (JSON).")
@options.as_json
def apply_cmd(
    src,
    model,
    environment,
    releases,
    version,
    digest,
    repository,
    cluster_name,
    timeout,
    rollout_out,
    as_json,
) -> None:
    """Apply a model's rendered objects to the cluster and wait until its rollout completes or aborts
    (exit 0), or stays paused/unfinished (exit 1). `serve record` then writes the ledger."""
    from mlplatform.stacks.errors import MlplatformError
    from mlplatform.stacks.evidence.rollouts import outcome

    if not as_json:
        click.echo(src.describe())
    release = _release(src.spec, model, releases, version, digest, repository)
    final = _roll_out(src, release, environment, cluster_name, timeout, rollout_out)
    o = outcome(final) if final else None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "source": src.to_dict(),
                    "model": model,
                    "environment": environment,
                    "version": release.version,
                    "state": o.state if o else None,
                    "analysis": o.analysis if o else None,
                },
                indent=2,
            )
        )
    else:
        click.echo(
            f"{model} v{release.version} in {environment}: {o.state if o else 'no Rollout'}"
            + (f" ({o.message})" if o and o.message else "")
        )
    if o is None or not o.finished:
        raise MlplatformError(
            f"{model} {environment}",
            f"the rollout is {o.state if o else 'missing'} after {timeout:g} s",
            "a paused canary waits for a person: kubectl argo rollouts promote|abort, then run serve record",
        )


@serve.command("status")
@options.stack_source
@click.option("--model", "models", multiple=True, help="A served model (repeatable; default: all of serving.models).")
@_cluster_opt
@click.option(
    "--ledger",
    "ledger_url",
    default=None,
    envvar="MLPLATFORM_LEDGER",
    metavar="s3://BUCKET[/PREFIX]",
    help="The evidence ledger; env MLPLATFORM_LEDGER.",
)
@click.option("--offline", is_flag=True, help="Do not ask the cluster: the ledger alone.")
@options.as_json
def status_cmd(src, models, cluster_name, ledger_url, offline, as_json) -> None:
    """Per model and environment: the live digest and version, the canary's step and analysis (from the
    cluster), and what the ledger says; from the ledger alone when no cluster is reachable."""
    from mlplatform.stacks.cloud import kube
    from mlplatform.stacks.evidence import records as R
    from mlplatform.stacks.evidence.audit import live_at
    from mlplatform.stacks.evidence.ledger import Ledger
    from mlplatform.stacks.evidence.rollouts import summary
    from mlplatform.stacks.project.serving import model_selector, stable_pod_digests

    spec = src.spec
    names = list(models) or sorted(spec.serving.models)
    notes: list[str] = []
    api = None
    if not offline:
        try:
            api = _cluster(src, cluster_name)
        except Exception as e:  # no credentials, no such cluster, no network: the ledger still answers
            notes.append(f"cluster not reachable ({str(e).splitlines()[0][:160]}): showing what the ledger says")
    else:
        notes.append("--offline: showing what the ledger says")
    ledger = Ledger(ledger_url, region=src.region) if ledger_url else None
    if ledger is None:
        notes.append("no ledger (--ledger or MLPLATFORM_LEDGER): nothing recorded is shown")
    rows = []
    now = R.now_utc()
    for model in names:
        for env in spec.serving.environments:
            row: dict[str, object] = {"model": model, "environment": env, "cluster": None, "ledger": None}
            if api is not None:
                try:
                    found = kube.get(api, "argoproj.io/v1alpha1", "Rollout", f"serving-{env}", model)
                    row["cluster"] = summary(found) if found else {"state": "not deployed"}
                    if found:
                        pods = kube.list_pods(api, f"serving-{env}", model_selector(model))
                        row["cluster"]["live"] = stable_pod_digests(found, pods)  # type: ignore[index]
                except Exception as e:
                    api = None
                    notes.append(
                        f"cluster not reachable ({str(e).splitlines()[0][:160]}): showing what the ledger says"
                    )
            if ledger is not None:
                live = live_at(ledger, model, now, env)["live"]
                row["ledger"] = (
                    {k: live[k] for k in ("digest", "version", "live_since", "by", "last_rollback")} if live else None
                )
            live = (row["cluster"] or {}).get("live") if isinstance(row["cluster"], dict) else None
            if live and isinstance(row["ledger"], dict):
                row["live_matches_ledger"] = set(live["digests"]) == {row["ledger"]["digest"]}
            rows.append(row)
    if as_json:
        click.echo(json.dumps({"source": src.to_dict(), "notes": notes, "models": rows}, indent=2, default=str))
        return
    click.echo(src.describe())
    for n in notes:
        click.echo(f"note: {n}")
    for row in rows:
        c, led = row["cluster"], row["ledger"]
        click.echo(f"{row['model']} / {row['environment']}")
        if isinstance(c, dict):
            step = f", step {c['step']}" if c.get("step") else ""
            weight = f", canary {c['canary_weight']} %" if c.get("canary_weight") is not None else ""
            a = c.get("analysis")
            click.echo(
                f"  cluster: {c.get('state')}{step}{weight}; wants v{c.get('wanted_version')} {c.get('wanted_digest')}"
                + (f"; analysis {a.get('name')} {a.get('status')}" if a else "")
            )
            live = c.get("live")
            if live:
                running = ", ".join(f"{d} ({n} of {live['pods']})" for d, n in sorted(live["digests"].items()))
                pending = f"; {len(live['unresolved'])} not pulled yet" if live["unresolved"] else ""
                click.echo(f"  live:    stable pods run {running or 'nothing yet'}{pending} (kubelet imageID)")
        if isinstance(led, dict):
            rb = led.get("last_rollback")
            click.echo(
                f"  ledger:  v{led['version']} {led['digest']} live since {led['live_since']} ({led['by']})"
                + (f"; last rollback {rb['at']} ({rb['reason']})" if rb else "")
            )
        elif ledger is not None:
            click.echo("  ledger:  never deployed here")
        if row.get("live_matches_ledger") is False:
            click.echo("  warning: the stable pods do not run what the ledger says is live")


@serve.command("rollback")
@options.stack_source
@click.option("--model", required=True, help="The served model.")
@click.option("--to", "to_version", default=None, help="An earlier approved version (default: the one before).")
@click.option("--environment", default="production", show_default=True, help="staging or production.")
@_releases_opt
@_cluster_opt
@_timeout_opt
@click.option(
    "--ledger",
    "ledger_url",
    required=True,
    envvar="MLPLATFORM_LEDGER",
    metavar="s3://BUCKET[/PREFIX]",
    help="The evidence ledger; env MLPLATFORM_LEDGER.",
)
@click.option("--key", "key_id", required=True, envvar="MLPLATFORM_LEDGER_KEY", help="Its signing key.")
@options.as_json
def rollback_cmd(
    src,
    model,
    to_version,
    environment,
    releases,
    cluster_name,
    timeout,
    ledger_url,
    key_id,
    as_json,
) -> None:
    """Go back to an earlier approved version through the same rendered path (canary and analyses
    included), and record the rollback in the ledger."""
    from mlplatform.stacks.errors import MlplatformError, UsageError
    from mlplatform.stacks.evidence import records as R
    from mlplatform.stacks.evidence.audit import live_at
    from mlplatform.stacks.evidence.ledger import Ledger
    from mlplatform.stacks.evidence.rollouts import Version, approved_versions, outcome, rollback_target

    if not as_json:
        click.echo(src.describe())
    ledger = Ledger(ledger_url, key_id=key_id, region=src.region)
    live = live_at(ledger, model, R.now_utc(), environment)["live"]
    if live is None:
        raise UsageError("--model", f"nothing of {model} is live in {environment}", "there is nothing to roll back")
    target = rollback_target(approved_versions(ledger, model, environment), live, to_version)
    release = _release(src.spec, model, releases, target.version, target.digest)
    final = _roll_out(src, release, environment, cluster_name, timeout, None)
    o = outcome(final) if final else None
    if o is None or not o.finished:
        raise MlplatformError(
            f"{model} {environment}",
            f"the rollback's rollout is {o.state if o else 'missing'} after {timeout:g} s; nothing recorded",
            "promote or abort it (kubectl argo rollouts), then run serve record --manual",
        )
    from mlplatform.stacks.evidence.rollouts import record_rollout

    current = Version(str(live["version"]), live["digest"])
    _, rec = record_rollout(ledger, model, final, environment, target, current, "manual")
    if as_json:
        click.echo(
            json.dumps(
                {
                    "model": model,
                    "environment": environment,
                    "to": target.version,
                    "state": o.state,
                    "kind": rec.kind,
                    "key": rec.key,
                },
                indent=2,
            )
        )
    else:
        click.echo(f"{model} in {environment}: v{current.version} -> v{target.version}: {o.state}; recorded {rec.key}")


@serve.command("smoke")
@options.stack_source
@click.option("--model", required=True, help="The served model.")
@click.option("--environment", default="staging", show_default=True, help="staging or production.")
@click.option("--requests", "count", type=click.IntRange(1, 100), default=5, show_default=True, help="How many.")
@options.as_json
def smoke_cmd(src, model, environment, count, as_json):
    """Send the model's smoke request (serving.models.<name>.smoke, else its readiness path) through its
    Service, from inside the cluster (a CI runner pod): exit 0 when every answer is 2xx, 3 otherwise."""
    from mlplatform.stacks.errors import PolicyRefusal
    from mlplatform.stacks.project.serving import served_model, smoke

    results = smoke(served_model(src.spec, model), model, environment, count)
    failed = [r for r in results if not r.ok]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "source": src.to_dict(),
                    "model": model,
                    "environment": environment,
                    "results": [{"url": r.url, "status": r.status, "detail": r.detail} for r in results],
                },
                indent=2,
            )
        )
    else:
        click.echo(src.describe())
        click.echo(
            f"{model} in {environment}: {len(results) - len(failed)} of {len(results)} smoke requests answered 2xx"
        )
    if failed:
        raise PolicyRefusal(
            f"{model} {environment}",
            f"{len(failed)} of {len(results)} smoke requests failed ({failed[0].status or failed[0].detail} "
            f"from {failed[0].url})",
            "fix the model before it reaches production; production still serves the previous version",
        )
