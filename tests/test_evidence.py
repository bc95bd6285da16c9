"""The evidence ledger against a real moto server: record, log, at, verify, tampering, the observer."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mlplatform.cli.main import cli
from mlplatform.stacks.evidence import records as R
from mlplatform.stacks.evidence.dsse import KmsSigner, canonical_json, pae, sha256_hex, sign_envelope
from mlplatform.stacks.evidence.ledger import Ledger

DATA = Path(__file__).parent / "data" / "evidence"
BUCKET = "team-evidence"
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
COMMIT1, COMMIT2 = "3f2a9c1e" * 5, "9b8c7d6e" * 5


@pytest.fixture
def ledger_env(aws, monkeypatch):
    """An Object Lock bucket (GOVERNANCE, 1 day) and an ECC_NIST_P256 signing key, named in the env."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=BUCKET, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    monkeypatch.setenv("MLPLATFORM_LEDGER", f"s3://{BUCKET}/acme")
    monkeypatch.setenv("MLPLATFORM_LEDGER_KEY", key["KeyId"])
    return {"s3": s3, "kms": kms, "key_arn": key["Arn"], "key_id": key["KeyId"]}


def run(*args: str):
    return CliRunner().invoke(cli, ["evidence", *args], catch_exceptions=False)


_LEDGERS: dict[str, Ledger] = {}


def record(kind: str, model: str, digest: str, *fields: str) -> str:
    """What `mlplatform evidence record` does, in-process through the library (the CLI costs a boto3
    start-up per call); `cli_record` goes through the command itself."""
    import os

    url, key = os.environ["MLPLATFORM_LEDGER"], os.environ.get("MLPLATFORM_LEDGER_KEY")
    ledger = _LEDGERS.get(f"{url} {key}")
    if ledger is None or ledger.s3.meta.endpoint_url != os.environ["AWS_ENDPOINT_URL"]:
        ledger = _LEDGERS[f"{url} {key}"] = Ledger(url, key_id=key)
    return ledger.append(kind, model, [digest], R.build_predicate(kind, digest, R.parse_fields(fields))).key


def cli_record(kind: str, model: str, digest: str, *fields: str) -> str:
    result = run("record", kind, "--model", model, "--digest", digest, *[a for f in fields for a in ("--field", f)])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def when(days_ago: float) -> str:
    return R.iso(R.now_utc() - timedelta(days=days_ago))


def release(model: str, digest: str, commit: str, deployed_days_ago: float, previous: str | None = None,
            version: str = "1") -> None:
    """What train-evaluate.yml records for one release: provenance, evaluation, approval, deployment."""
    record("provenance", model, digest, f"commit={commit}", "repository=https://github.com/acme/churn",
           "workflow=.github/workflows/train-evaluate.yml", f"run=https://github.com/acme/churn/actions/runs/{version}0",
           "image=123456789012.dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/images@sha256:" + "a" * 64,
           f"mlflow_run=run{version}", f"data=s3://acme-data/churn/train.parquet?versionId=v{version}",
           "data=features@sha256:" + "f" * 64)
    record("evaluation", model, digest, f"metric.val_loss=0.{30 - int(version)}", "threshold.val_loss=0.35",
           *([f"baseline={previous}", "baseline_metric.val_loss=0.29"] if previous else []), "passed=true")
    record("approval", model, digest, "by=alice", "via=environment", "comment=better on the holdout",
           "url=https://github.com/acme/churn/actions/runs/1")
    record("deployment", model, digest, "environment=production", f"from={previous or 'none'}",
           f"version={version}", f"when={when(deployed_days_ago)}")


@pytest.fixture
def two_models(ledger_env):
    """churn: v1 deployed 20 days ago, v2 10 days ago; fraud: v1 15 days ago; each observed."""
    release("churn", D1, COMMIT1, 20)
    record("observation", "churn", D1, "cluster=ml-dev", f"when={when(19)}")
    release("fraud", D1, COMMIT1, 15)
    record("observation", "fraud", D1, "cluster=ml-dev", f"when={when(14)}")
    release("churn", D2, COMMIT2, 10, previous=D1, version="2")
    record("observation", "churn", D2, "cluster=ml-dev")
    return ledger_env


def keys(s3, model: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"acme/ledger/{model}/")["Contents"])


# -- DSSE ---------------------------------------------------------------------------------------
def test_pae_is_the_dsse_spec_encoding():
    # The test vector of the DSSE protocol document.
    assert pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("application/vnd.in-toto+json", "é".encode()) == b"DSSEv1 28 application/vnd.in-toto+json 2 " + "é".encode()


def test_record_is_a_signed_in_toto_statement_in_a_dsse_envelope(ledger_env):
    key = cli_record("provenance", "churn", D1, f"commit={COMMIT1}", "repository=https://github.com/acme/churn",
                     "mlflow_run=abc", "data=sha256:" + "d" * 64)
    assert key.startswith("acme/ledger/churn/00000001-") and key.endswith(".json")
    body = ledger_env["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert key == f"acme/ledger/churn/00000001-{sha256_hex(body)}.json"
    env = json.loads(body)
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert env["signatures"][0]["keyid"] == ledger_env["key_arn"]
    payload = base64.b64decode(env["payload"])
    st = json.loads(payload)
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["subject"] == [{"name": "churn", "digest": {"sha256": "1" * 64}}]
    assert st["predicateType"] == "https://slsa.dev/provenance/v1"
    bd = st["predicate"]["buildDefinition"]
    assert {"uri": "git+https://github.com/acme/churn", "digest": {"gitCommit": COMMIT1},
            "annotations": {R.ROLE: "source"}} in bd["resolvedDependencies"]
    assert bd["externalParameters"] == {"repository": "https://github.com/acme/churn"}
    assert bd["internalParameters"] == {"mlflowRunId": "abc"}
    assert st["predicate"]["ledger"]["seq"] == 1 and st["predicate"]["ledger"]["previous"] is None
    # the signature verifies with nothing but the public key: ECDSA P-256 / SHA-256 over the PAE
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    pub = load_der_public_key(ledger_env["kms"].get_public_key(KeyId=ledger_env["key_id"])["PublicKey"])
    pub.verify(base64.b64decode(env["signatures"][0]["sig"]), pae(env["payloadType"], payload), ec.ECDSA(hashes.SHA256()))
    # and KMS agrees
    assert ledger_env["kms"].verify(KeyId=ledger_env["key_id"], Message=pae(env["payloadType"], payload),
                                    MessageType="RAW", Signature=base64.b64decode(env["signatures"][0]["sig"]),
                                    SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]
    # the next record carries the digest of this one
    key2 = cli_record("evaluation", "churn", D1, "metric.val_loss=0.2")
    st2 = json.loads(base64.b64decode(json.loads(ledger_env["s3"].get_object(Bucket=BUCKET, Key=key2)["Body"].read())["payload"]))
    assert key2.startswith("acme/ledger/churn/00000002-")
    assert st2["predicate"]["ledger"]["previous"] == f"sha256:{sha256_hex(body)}"
    assert st2["predicateType"] == "https://mlplatform.dev/evidence/evaluation/v1"


def test_records_are_written_with_the_bucket_retention(ledger_env):
    key = record("approval", "churn", D1, "by=alice")
    head = ledger_env["s3"].head_object(Bucket=BUCKET, Key=key)
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"] > R.now_utc()


# -- log / at / verify ----------------------------------------------------------------------------
def test_log_is_the_timeline_oldest_first(two_models):
    result = run("log", "--model", "churn", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["records"]
    assert [r["kind"] for r in rows] == ["provenance", "evaluation", "approval", "deployment", "observation"] * 2
    assert [r["seq"] for r in rows] == list(range(1, 11))
    assert rows[2]["who"] == "alice" and rows[2]["summary"] == "approved via environment: better on the holdout"
    assert rows[8]["summary"] == f"production: {'1' * 12} -> {'2' * 12} (version 2)"
    text = run("log", "--model", "churn")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[0] == "Ledger s3://team-evidence/acme (region us-east-1, key " \
        f"{two_models['key_id']})"
    assert "10 records." in text.stdout


def test_at_answers_before_between_and_after_the_deployments(two_models):
    before = json.loads(run("at", when(30), "--model", "churn", "--json").stdout)
    assert before["live"] is None and before["first_deployment"]
    text = run("at", when(30), "--model", "churn")
    assert text.exit_code == 0 and "Nothing of churn was live in production" in text.stdout

    between = json.loads(run("at", when(15), "--model", "churn", "--json").stdout)["live"]
    assert between["digest"] == D1 and between["version"] == "1" and between["approved_by"] == "alice"
    assert between["trained_from"]["commit"] == COMMIT1
    assert between["trained_from"]["data"] == ["s3://acme-data/churn/train.parquet?versionId=v1",
                                               "features@sha256:" + "f" * 64]
    assert between["trained_from"]["training_image"].endswith("images@sha256:" + "a" * 64)
    assert between["evaluation"]["metrics"] == {"val_loss": 0.29} and between["evaluation"]["passed"] is True
    assert between["replaced"] is None and between["observed"]["running"] == [D1]

    after = json.loads(run("at", R.iso(R.now_utc()), "--model", "churn", "--json").stdout)["live"]
    assert after["digest"] == D2 and after["replaced"] == D1 and after["trained_from"]["commit"] == COMMIT2
    assert after["evaluation"]["baseline"] == {"digest": {"sha256": "1" * 64}, "metrics": {"val_loss": 0.29}}
    text = run("at", R.iso(R.now_utc()), "--model", "churn")
    assert f"digest          {D2}" in text.stdout and "approved by     alice via environment" in text.stdout
    # the other model has its own history
    fraud = json.loads(run("at", when(12), "--model", "fraud", "--json").stdout)["live"]
    assert fraud["digest"] == D1
    assert json.loads(run("at", when(12), "--model", "churn", "--environment", "staging", "--json").stdout)["live"] is None


def test_verify_passes_and_an_auditor_needs_only_the_public_key(two_models, tmp_path, monkeypatch):
    result = run("verify")
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    assert last.startswith("Verified 15 records of 2 model(s) with the KMS public key of ")
    assert last.endswith(f"{two_models['key_id']}: no breaks.")  # KMS answers with the key's ARN, moto with its id
    pem = tmp_path / "ledger.pem"
    assert run("public-key", "--out", str(pem)).exit_code == 0
    assert pem.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    monkeypatch.delenv("MLPLATFORM_LEDGER_KEY")
    audit = run("verify", "--public-key", str(pem), "--json")
    assert audit.exit_code == 0, audit.output
    report = json.loads(audit.stdout)
    assert report["ok"] and report["records"] == 15 and report["models"] == ["churn", "fraud"]
    assert report["key"] == "--public-key"
    # another key's public key makes every signature a break
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    from mlplatform.stacks.evidence.dsse import public_key_pem

    (tmp_path / "other.pem").write_text(public_key_pem(other))
    wrong = run("verify", "--model", "fraud", "--public-key", str(tmp_path / "other.pem"))
    assert wrong.exit_code == 3 and wrong.stdout.count(": signature: ") == 5


def _breaks(*args: str) -> list[str]:
    result = run("verify", *args)
    assert result.exit_code == 3, result.output
    return [line for line in result.stdout.splitlines()[1:-1]]


def test_a_record_overwritten_as_a_new_version_is_tampering(two_models):
    s3 = two_models["s3"]
    target = keys(s3, "churn")[2]  # the first approval
    s3.put_object(Bucket=BUCKET, Key=target, Body=b'{"payloadType":"x","payload":"","signatures":[]}')
    lines = _breaks()
    assert lines == [f"churn seq 3: overwritten: the record has 2 versions: it was written again after it was "
                     f"recorded (tampering) ({target})"]
    # log reads the current version, which no longer matches its key: verify is what tells
    assert run("verify", "--model", "fraud").exit_code == 0


def test_versions_of_one_second_are_read_oldest_first(ledger_env):
    # S3 (and moto) give LastModified to the second and list a key's versions newest first: three writes
    # in one second must still be read in the order they were written, or an overwrite passes as the record.
    s3, key = ledger_env["s3"], "acme/ledger/churn/00000001-x.json"
    written = [s3.put_object(Bucket=BUCKET, Key=key, Body=str(i).encode())["VersionId"] for i in range(3)]
    s3.delete_object(Bucket=BUCKET, Key=key)
    got = Ledger(f"s3://{BUCKET}/acme").versions("churn")[key]
    assert [v["VersionId"] for v in got if not v["DeleteMarker"]] == written
    assert got[-1]["DeleteMarker"]


def test_a_record_with_a_forged_signature(two_models):
    s3 = two_models["s3"]
    tail = keys(s3, "fraud")[-1]
    prev = tail.rsplit("-", 1)[1].removesuffix(".json")
    st = R.statement("fraud", [D3], "approval", {"approver": "mallory", "method": "manual",
                                                 "ledger": {"model": "fraud", "seq": 6, "previous": f"sha256:{prev}",
                                                            "recordedAt": R.iso(R.now_utc()), "recordedBy": "x"}})
    payload = canonical_json(st)
    forged = ec.generate_private_key(ec.SECP256R1()).sign(pae("application/vnd.in-toto+json", payload),
                                                          ec.ECDSA(hashes.SHA256()))
    body = canonical_json({"payloadType": "application/vnd.in-toto+json", "payload": base64.b64encode(payload).decode(),
                           "signatures": [{"keyid": two_models["key_arn"], "sig": base64.b64encode(forged).decode()}]})
    key = f"acme/ledger/fraud/00000006-{sha256_hex(body)}.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    assert _breaks("--model", "fraud") == [
        f"fraud seq 6: signature: signature does not verify with the ledger's public key (forged or altered) ({key})"]


def test_a_deployment_without_approval(two_models):
    record("provenance", "fraud", D3, f"commit={COMMIT2}", "repository=https://github.com/acme/fraud")
    key = cli_record("deployment", "fraud", D3, f"from={D1}", f"when={when(0)}")
    assert _breaks("--model", "fraud") == [
        f"fraud seq 7: deployment without approval: production moved to {D3} with no earlier approval of that "
        f"digest ({key})"]
    # an approval for another environment does not count, neither does one after the deployment
    record("approval", "fraud", D3, "by=bob", "environment=staging")
    assert any("deployment without approval" in line for line in _breaks("--model", "fraud"))


def test_a_deployment_without_provenance(two_models):
    record("approval", "fraud", D3, "by=alice")
    key = record("deployment", "fraud", D3, f"from={D1}")
    assert _breaks("--model", "fraud") == [
        f"fraud seq 7: deployment without provenance: production moved to {D3} with no earlier provenance of "
        f"that digest ({key})"]


def test_a_chain_gap_and_a_broken_link(two_models):
    ledger = Ledger(f"s3://{BUCKET}/acme", key_id=two_models["key_id"])
    s3 = two_models["s3"]
    tail = keys(s3, "fraud")[-1]
    prev = "sha256:" + tail.rsplit("-", 1)[1].removesuffix(".json")

    def insider(seq: int, previous: str) -> str:  # someone with the writer role, writing by hand
        st = R.statement("fraud", [D1], "review", {"reviewer": "eve", "outcome": "keep", "ledger": {
            "model": "fraud", "seq": seq, "previous": previous, "recordedAt": R.iso(R.now_utc()), "recordedBy": "eve"}})
        body = canonical_json(sign_envelope(st, KmsSigner(ledger.kms, two_models["key_id"])).to_dict())
        key = f"acme/ledger/fraud/{seq:08d}-{sha256_hex(body)}.json"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body, IfNoneMatch="*")
        return key

    insider(7, prev)  # seq 6 skipped
    assert _breaks("--model", "fraud") == ["fraud seq 6: chain gap: record 6 is missing: records run to 7"]
    key8 = insider(8, "sha256:" + "0" * 64)
    assert _breaks("--model", "fraud")[1] == (f"fraud seq 8: chain broken: it names previous sha256:{'0' * 64}, but "
                                              f"record 7 is sha256:{keys(s3, 'fraud')[-2].rsplit('-', 1)[1][:-5]} ({key8})")


def test_deleting_a_locked_record_is_refused(two_models):
    s3 = two_models["s3"]
    target = keys(s3, "churn")[0]
    version = s3.list_object_versions(Bucket=BUCKET, Prefix=target)["Versions"][0]["VersionId"]
    with pytest.raises(s3.exceptions.ClientError) as e:
        s3.delete_object(Bucket=BUCKET, Key=target, VersionId=version)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert s3.get_object(Bucket=BUCKET, Key=target, VersionId=version)["Body"].read()
    # a plain DELETE only hides it behind a delete marker: verify still reads it and names the deletion
    s3.delete_object(Bucket=BUCKET, Key=target)
    assert _breaks("--model", "churn") == [
        f"churn seq 1: deleted: the record has a delete marker: someone deleted it ({target})"]


def test_observations_must_agree_with_deployments(two_models):
    key = record("observation", "fraud", D3, "cluster=ml-dev")
    assert _breaks("--model", "fraud") == [
        f"fraud seq 6: observation disagrees: production ran {D3} but was deployed to {D1} (seq 4) ({key})"]


def test_reviews_overdue_for_live_models(ledger_env):
    release("churn", D1, COMMIT1, 60)
    lines = _breaks()
    assert len(lines) == 1 and lines[0].startswith(f"churn seq 4: review overdue: production runs {D1}, deployed, "
                                                   "never reviewed, ") and "(more than 38)" in lines[0]
    assert run("verify", "--review-days", "90").exit_code == 0
    record("review", "churn", D1, "by=carol", "outcome=keep", f"when={when(50)}")
    assert "last reviewed" in _breaks()[0]
    record("review", "churn", D1, "by=carol", "outcome=keep", "comment=drift within bounds")
    assert run("verify").exit_code == 0


# -- one-line errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["at", "last tuesday", "--model", "churn"], "error: TIME: 'last tuesday' is not an ISO 8601 time; write it like "
                                                  "2026-03-01T12:00:00Z"),
    (["log", "--model", "nope"], "error: --model: no records of model 'nope' in s3://team-evidence/acme; use one of "
                                 "churn"),
    (["at", "2026-01-01", "--model", "nope"], "error: --model: no records of model 'nope'"),
    (["at", ":x:", "--model", "churn"], "error: TIME: ':x:' is not an ISO 8601 time"),  # quoted as typed
    (["verify", "--model", "nope"], "error: --model: no records of model 'nope'"),
    (["log", "--model", "churn", "--ledger", "s3://no-such-bucket"],
     "error: --ledger: bucket no-such-bucket does not exist; check --ledger / MLPLATFORM_LEDGER"),
    (["record", "approval", "--model", "churn", "--digest", "sha256:abc", "--field", "by=a"],
     "error: --digest: 'sha256:abc' is not a sha256 digest"),
    (["record", "approval", "--model", "churn", "--digest", D1, "--field", "who=a"],
     "error: --field who: is not a field of an approval record; use by, via"),
    (["record", "approval", "--model", "churn", "--digest", D1],
     "error: --field by: an approval record needs who approved; add --field by=<GitHub login>"),
    (["record", "provenance", "--model", "churn", "--digest", D1, "--field", "commit=3f2a9c1",
      "--field", "repository=https://github.com/acme/churn"],
     "error: --field commit: '3f2a9c1' is not a full git commit: an in-toto gitCommit digest is exactly 40 (SHA-1) "
     "or 64 (SHA-256) lowercase hex characters; give the full SHA"),
    (["record", "provenance", "--model", "churn", "--digest", D1, "--field", f"commit={COMMIT1.upper()}",
      "--field", "repository=https://github.com/acme/churn"], "error: --field commit: "),
    (["record", "provenance", "--model", "churn", "--digest", D1, "--field", f"commit={COMMIT1}"],
     "error: --field repository: a provenance record needs the build's external parameters (SLSA v1 "
     "`externalParameters`: what the caller chose), and none was given; add --field repository="),
    (["record", "deployment", "--model", "churn", "--digest", D1, "--field", "when=yesterday"],
     "error: --field when: 'yesterday' is not an ISO 8601 time"),
    (["record", "evaluation", "--model", "churn", "--digest", D1, "--field", "metric.auc=high"],
     "error: --field metric.auc: 'high' is not a number"),
])
def test_bad_input_is_one_line_exit_1(ledger_env, args, message):
    record("approval", "churn", D1, "by=alice")
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == "" or (result.stdout.startswith("Ledger s3://") and result.stdout.count("\n") == 1)


def test_no_ledger_at_all(aws, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLPLATFORM_LEDGER", raising=False)
    result = run("log", "--model", "churn")
    assert result.exit_code == 1
    assert result.stderr == ("error: --ledger: no ledger given; pass --ledger s3://BUCKET[/PREFIX] or set "
                             "MLPLATFORM_LEDGER (the stack output evidence_bucket, `mlplatform outputs`)\n")


def test_record_without_a_signing_key_or_with_the_wrong_key(ledger_env, monkeypatch):
    monkeypatch.delenv("MLPLATFORM_LEDGER_KEY")
    result = run("record", "approval", "--model", "churn", "--digest", D1, "--field", "by=a")
    assert result.exit_code == 1 and result.stderr.startswith("error: --key: no signing key given")
    sym = ledger_env["kms"].create_key()["KeyMetadata"]["KeyId"]
    result = run("record", "approval", "--model", "churn", "--digest", D1, "--field", "by=a", "--key", sym)
    assert result.exit_code == 1 and "cannot sign ECDSA_SHA_256" in result.stderr
    assert "Contents" not in ledger_env["s3"].list_objects_v2(Bucket=BUCKET)  # nothing half-written


def test_predicate_file_and_fields_merge(ledger_env, tmp_path):
    f = tmp_path / "eval.json"
    f.write_text(json.dumps({"metrics": {"auc": 0.91}, "dataset": "holdout-2026-11"}))
    key = run("record", "evaluation", "--model", "churn", "--digest", D1, "--predicate", str(f),
              "--field", "metric.val_loss=0.2", "--json")
    data = json.loads(key.stdout)
    body = json.loads(ledger_env["s3"].get_object(Bucket=BUCKET, Key=data["key"])["Body"].read())
    pred = json.loads(base64.b64decode(body["payload"]))["predicate"]
    assert pred["metrics"] == {"auc": 0.91, "val_loss": 0.2} and pred["dataset"] == "holdout-2026-11"


# -- the observer -----------------------------------------------------------------------------------
def observe(pods: str, unresolved: list[str] | None = None):
    result = run("observe", "--pods", str(DATA / pods), "--cluster", "ml-dev", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["unresolved"] == (unresolved or [])
    return data["recorded"]


def test_the_observer_records_what_runs_when_it_changes(ledger_env):
    release("churn", D1, COMMIT1, 3)
    release("fraud", D1, COMMIT1, 3)
    first = observe("pods-1.json")
    assert [(r["model"], r["environment"], r["running"]) for r in first] == [
        ("churn", "production", ["1" * 64]), ("fraud", "production", ["1" * 64])]
    assert observe("pods-1.json") == []  # nothing changed: nothing recorded
    release("churn", D2, COMMIT2, 0.01, previous=D1, version="2")
    second = observe("pods-2.json")  # mid-rollout: old and new run side by side
    assert [(r["model"], r["running"]) for r in second] == [("churn", ["1" * 64, "2" * 64])]
    assert run("verify").exit_code == 0
    # a staging pod mounts its model by tag: reported, never guessed (no digest, no record about it)
    third = observe("pods-3.json", unresolved=["staging/churn-staging-1"])
    assert [(r["model"], r["environment"], r["running"]) for r in third] == [
        ("churn", "production", ["2" * 64]), ("fraud", "production", [])]
    text = run("observe", "--pods", str(DATA / "pods-3.json"))
    assert text.stderr == ("warning: staging/churn-staging-1 (churn, staging): cannot resolve 123456789012.dkr.ecr."
                           "us-east-1.amazonaws.com/mlplatform/dev/models:churn-latest to a digest; pin the model by "
                           "digest (annotation mlplatform.io/model-digest or an image volume REPOSITORY@sha256:...)\n")
    assert text.stdout.splitlines()[-1] == "No change: nothing recorded."
    ledger = Ledger(f"s3://{BUCKET}/acme")
    gone = ledger.read("fraud")[-1]
    assert gone.predicate["running"] == [] and gone.subjects == [D1]  # what stopped running
    live = json.loads(run("at", R.iso(R.now_utc()), "--model", "churn", "--json").stdout)["live"]
    assert live["observed"]["running"] == [D2]
    assert run("verify").exit_code == 0


def test_the_observer_resolves_baked_in_images_and_reports_strays(ledger_env):
    observe("pods-image.json")
    rec = Ledger(f"s3://{BUCKET}/acme").read("ranker")[0]
    assert rec.subjects == [D1] and rec.predicate["pods"][0]["source"] == "image"
    lines = _breaks()
    assert len(lines) == 1 and "observation disagrees: production ran " + D1 + " before any deployment" in lines[0]


# -- the observer image ------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "stacks" / "evidence" / "observer.Dockerfile"


def test_the_observer_runs_without_pulumi_as_its_image_installs_it(ledger_env):
    """The image installs the package without Pulumi: `mlplatform evidence observe` must not need it."""
    import os
    import subprocess
    import sys

    release("churn", D1, COMMIT1, 1)
    code = ("import sys\n"
            "for m in ('pulumi', 'pulumi_aws', 'pulumi_kubernetes', 'pulumi_random', 'jinja2', 'questionary'):\n"
            "    sys.modules[m] = None\n"
            "from mlplatform.cli.main import main\n"
            f"sys.argv = ['mlplatform', 'evidence', 'observe', '--pods', {str(DATA / 'pods-1.json')!r}, '--json']\n"
            "main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy(),
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert [r["model"] for r in json.loads(out.stdout)["recorded"]] == ["churn", "fraud"]


def test_the_observer_dockerfile_installs_the_pinned_ranges_and_the_deployed_tag():
    import tomllib

    from mlplatform.components.versions import EVIDENCE_OBSERVER_BASE_IMAGE, EVIDENCE_OBSERVER_TAG

    text = DOCKERFILE.read_text()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name in ("boto3", "cryptography", "click", "rich", "pydantic", "pyyaml"):
        (pin,) = [d for d in deps if d.lower().startswith(name)]
        assert f'"{pin}"' in text, f"{pin} differs between pyproject.toml and the observer Dockerfile"
    assert f"ARG BASE={EVIDENCE_OBSERVER_BASE_IMAGE}\n" in text
    assert EVIDENCE_OBSERVER_TAG == f"evidence-observer-{version}" and f":{EVIDENCE_OBSERVER_TAG}" in text
    assert f'ARG MLPLATFORM="mlplatform=={version}"' in text and "COPY" not in text  # no build context needed
    from importlib import resources

    assert resources.files("mlplatform.stacks.evidence").joinpath("observer.Dockerfile").read_text() == text
    assert "USER 65532:65532" in text  # the CronJob's runAsUser
    from mlplatform.components.evidence_ledger import OBSERVER_UID

    assert OBSERVER_UID == 65532


def test_the_readme_recipe_verifies_a_record_with_openssl_and_the_public_key(ledger_env, tmp_path):
    """The auditor's steps of the README, run by bash with openssl and jq (tools we did not write)."""
    import re
    import shutil
    import subprocess

    if not (shutil.which("openssl") and shutil.which("jq") and shutil.which("bash")):
        pytest.skip("needs openssl, jq and bash on PATH")
    release("churn", D1, COMMIT1, 1)
    assert run("public-key", "--out", str(tmp_path / "ledger.pem")).exit_code == 0
    k3, k4 = keys(ledger_env["s3"], "churn")[2:4]
    (tmp_path / "rec.json").write_bytes(ledger_env["s3"].get_object(Bucket=BUCKET, Key=k4)["Body"].read())
    readme = (ROOT / "README.md").read_text()
    recipe = readme.split("one record at a time with openssl", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    steps = [line.split("  #", 1)[0].rstrip() for line in recipe.splitlines() if not line.startswith("aws s3 cp")]
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(steps)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[0] == re.search(r"-([0-9a-f]{64})\.json$", k4)[1]
    assert "Verified OK" in lines
    assert lines[-1] == "sha256:" + re.search(r"-([0-9a-f]{64})\.json$", k3)[1]
    # a flipped byte in the statement fails the same check
    payload = (tmp_path / "payload.json").read_bytes()
    assert b"production" in payload
    payload = payload.replace(b"production", b"productiom")
    (tmp_path / "payload.json").write_bytes(payload)
    again = [s for s in steps if "base64 -d > payload.json" not in s and not s.startswith("sha256sum")]
    bad = subprocess.run(["bash", "-uo", "pipefail", "-c", "\n".join(again)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert "Verification failure" in bad.stdout + bad.stderr


# -- a careless bucket (issue 25) ------------------------------------------------------------------------------
def _versions(s3, bucket: str, prefix: str) -> list[tuple[str, bool]]:
    r = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    return sorted([(v["Key"], False) for v in r.get("Versions", [])] + [(d["Key"], True) for d in r.get("DeleteMarkers", [])])


@pytest.mark.parametrize("setup,problem", [
    ("plain", "versioning is off, so an overwrite or a delete loses the record; Object Lock is off"),
    ("versioned", "Object Lock is off, so anyone with s3:DeleteObjectVersion can erase a record"),
    ("lock-without-retention", "Object Lock has no default retention, so the records written are not locked"),
])
def test_record_refuses_a_bucket_that_does_not_keep_every_record(ledger_env, monkeypatch, setup, problem):
    s3 = ledger_env["s3"]
    bucket = f"careless-{setup}"
    if setup == "lock-without-retention":
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    else:
        s3.create_bucket(Bucket=bucket)
    if setup == "versioned":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setenv("MLPLATFORM_LEDGER", f"s3://{bucket}")
    res = run("record", "provenance", "--model", "churn", "--digest", D1, "--field", f"commit={COMMIT1}", "--field", "ref=refs/heads/main")
    assert res.exit_code == 3, res.output
    [line] = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert f"refused to write: ledger bucket {bucket}: " in line and problem in line
    assert "pass --allow-unprotected-ledger to write anyway" in line and "Object Lock" in line
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # nothing written
    # the explicit flag downgrades it to a loud warning, printed before the write
    res = run("record", "provenance", "--model", "churn", "--digest", D1, "--field", f"commit={COMMIT1}",
              "--field", "ref=refs/heads/main", "--allow-unprotected-ledger")
    assert res.exit_code == 0, res.output
    assert "WARNING: ledger bucket" in res.stderr and "not evidence an auditor should rely on" in res.stderr
    assert res.stdout.strip().startswith("ledger/churn/00000001-")


def test_the_component_bucket_is_accepted_without_a_warning(ledger_env):
    res = run("record", "provenance", "--model", "churn", "--digest", D1, "--field", f"commit={COMMIT1}", "--field", "ref=refs/heads/main")
    assert res.exit_code == 0 and "WARNING" not in res.stderr


def test_writing_after_a_deleted_record_refuses_and_never_forks(two_models):
    """A delete marker on the tail (record 10 of churn) hides it from ListObjects: the next write must not
    become a second record 10 (or link past it); it refuses, says how to restore, and works once restored."""
    s3 = two_models["s3"]
    tail = keys(s3, "churn")[-1]
    assert tail.rsplit("/", 1)[-1].startswith("00000010-")
    marker = s3.delete_object(Bucket=BUCKET, Key=tail)["VersionId"]
    before = _versions(s3, BUCKET, "acme/ledger/churn/")
    res = run("record", "review", "--model", "churn", "--digest", D2, "--field", "outcome=keep", "--field", "by=alice")
    assert res.exit_code == 3, res.output
    [line] = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert f"record 10 of churn ({tail}) was deleted: a delete marker (version {marker}" in line
    assert "writing now would fork the chain at 10" in line and "nothing was written" in line
    assert f"aws s3api delete-object --bucket {BUCKET} --key {tail} --version-id {marker}" in line
    assert _versions(s3, BUCKET, "acme/ledger/churn/") == before  # no second record 10, nothing at all
    with pytest.raises(Exception, match="was deleted"):  # the observer appends through the same check
        record("observation", "churn", D2, "cluster=ml-dev")
    # the recovery the message gives: remove the marker; the chain continues at 11, linked to 10
    s3.delete_object(Bucket=BUCKET, Key=tail, VersionId=marker)
    new = cli_record("review", "churn", D2, "outcome=keep", "by=alice")
    assert new.rsplit("/", 1)[-1].startswith("00000011-")
    verified = run("verify", "--model", "churn")
    assert verified.exit_code == 0 and "Verified 11 records" in verified.stdout and "no breaks" in verified.stdout


def _readme_provenance_command() -> list[str]:
    """The README's `evidence record provenance` example, with its shell variables given values."""
    import re
    import shlex

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    [cmd] = re.findall(r"^(mlplatform evidence record provenance .*?)(?<!\\)\n", text, re.S | re.M)
    values = {"GITHUB_SHA": COMMIT1, "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/churn",
              "GITHUB_REF": "refs/heads/main", "RUN_URL": "https://github.com/acme/churn/actions/runs/7",
              "GITHUB_WORKFLOW_REF": "acme/churn/.github/workflows/train-evaluate.yml@refs/heads/main",
              "TRAIN_IMAGE": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/images", "RUN_ID": "r1"}
    cmd = re.sub(r"\$([A-Z_]+)", lambda m: values[m[1]], cmd.replace("\\\n", " "))
    cmd = cmd.replace("sha256:4f1c...", D1).replace("@sha256:...", "@sha256:" + "a" * 64).replace("3HL4kqtJ...", "3HL4kq")
    return shlex.split(cmd)[3:]


def test_the_readme_provenance_is_accepted_by_the_in_toto_attestation_framework(ledger_env):
    """Issue 25: the in-toto attestation framework's Statement validator and the SLSA v1 Provenance message
    (in-toto-attestation's protobuf) accept the record; externalParameters is filled from the caller's fields."""
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    argv = _readme_provenance_command()
    assert argv[0] == "provenance" and "--field" in argv
    res = run("record", *argv)
    assert res.exit_code == 0, res.output
    body = ledger_env["s3"].get_object(Bucket=BUCKET, Key=res.stdout.strip())["Body"].read()
    st = json.loads(base64.b64decode(json.loads(body)["payload"]))
    Statement.copy_from_pb(json_format.ParseDict(st, statement_pb2.Statement())).validate()
    predicate = {k: v for k, v in st["predicate"].items() if k != "ledger"}  # our chain link rides beside SLSA's
    json_format.ParseDict(predicate, provenance_pb2.Provenance())  # SLSA v1's fields and types, nothing else
    bd = st["predicate"]["buildDefinition"]
    assert bd["externalParameters"] == {
        "repository": "https://github.com/acme/churn", "ref": "refs/heads/main",
        "workflow": "acme/churn/.github/workflows/train-evaluate.yml@refs/heads/main"}
    from in_toto_attestation.v1 import resource_descriptor_pb2
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor

    for dep in bd["resolvedDependencies"]:  # each a valid in-toto ResourceDescriptor
        ResourceDescriptor.copy_from_pb(json_format.ParseDict(dep, resource_descriptor_pb2.ResourceDescriptor())).validate()
    commits = [d["digest"]["gitCommit"] for d in bd["resolvedDependencies"] if "gitCommit" in d.get("digest", {})]
    assert commits == [COMMIT1] and len(COMMIT1) == 40
    assert st["predicate"]["runDetails"]["builder"]["id"]


def test_record_help_shows_a_commit_the_record_accepts():
    res = CliRunner().invoke(cli, ["evidence", "record", "--help"], env={"COLUMNS": "200"})
    assert "commit=3f2a9c1" not in res.stdout and "commit=$GITHUB_SHA" in res.stdout
