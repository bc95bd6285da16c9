"""The `monitoring` schema of the metadata database: drift results, owned by their own role.

The role and the schema are made in the cluster by MonitoringDatabase's Job (components/monitoring_db.py)
with the SQL of components/monitoring_role.py; `setup` runs the same SQL from Python. The drift job connects
as that role, creates its tables if needed (`ensure_tables`) and appends one run per model and window
(`insert_run`).
"""

from __future__ import annotations

from typing import Any

from mlplatform.components.monitoring_role import (
    PASSWORD_SETTING,
    ROLE,
    ROLE_SETTING,
    SCHEMA,
    SCHEMA_SETTING,
    SETUP_SQL,
)

TABLES = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.drift_runs (
    id               bigserial PRIMARY KEY,
    model            text NOT NULL,
    digest           text NOT NULL,
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL,
    reference_uri    text NOT NULL,
    rows_current     integer NOT NULL,
    rows_reference   integer NOT NULL,
    score            double precision NOT NULL,
    threshold        double precision NOT NULL,
    drifted          boolean NOT NULL,
    drifted_features integer NOT NULL,
    ledger_key       text,
    ran_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS drift_runs_model_ran_at ON {SCHEMA}.drift_runs (model, ran_at DESC);
CREATE TABLE IF NOT EXISTS {SCHEMA}.drift_features (
    run_id   bigint NOT NULL REFERENCES {SCHEMA}.drift_runs (id) ON DELETE CASCADE,
    feature  text NOT NULL,
    method   text NOT NULL,
    score    double precision NOT NULL,
    drifted  boolean NOT NULL,
    PRIMARY KEY (run_id, feature)
);
"""


def setup(conn: Any, password: str, role: str = ROLE) -> None:
    """As the database's administrator, what the in-cluster Job runs (components/monitoring_role.SETUP_SQL,
    the same text): the role, the schema it owns, its grants. Idempotent."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT set_config(%s, %s, true), set_config(%s, %s, true), set_config(%s, %s, true)",
            (ROLE_SETTING, role, SCHEMA_SETTING, SCHEMA, PASSWORD_SETTING, password),
        )
        cur.execute(SETUP_SQL)
    conn.commit()


def ensure_tables(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute(TABLES)
    conn.commit()


def insert_run(conn: Any, run: dict[str, Any], features: list[dict[str, Any]]) -> int:
    """One drift run and its per-feature scores; the run's id."""
    with conn.cursor() as cur:
        cur.execute(
            f"""INSERT INTO {SCHEMA}.drift_runs (model, digest, window_start, window_end, reference_uri, rows_current,
                rows_reference, score, threshold, drifted, drifted_features, ledger_key)
                VALUES (%(model)s, %(digest)s, %(window_start)s, %(window_end)s, %(reference_uri)s, %(rows_current)s,
                %(rows_reference)s, %(score)s, %(threshold)s, %(drifted)s, %(drifted_features)s, %(ledger_key)s)
                RETURNING id""",
            run,
        )
        run_id = int(cur.fetchone()[0])
        cur.executemany(
            f"""INSERT INTO {SCHEMA}.drift_features (run_id, feature, method, score, drifted)
                VALUES (%(run_id)s, %(feature)s, %(method)s, %(score)s, %(drifted)s)""",
            [{**f, "run_id": run_id} for f in features],
        )
    conn.commit()
    return run_id


def set_ledger_key(conn: Any, run_id: int, key: str) -> None:
    with conn.cursor() as cur:
        cur.execute(f"UPDATE {SCHEMA}.drift_runs SET ledger_key = %s WHERE id = %s", (key, run_id))
    conn.commit()
