"""The `monitoring` schema of the metadata database: drift results, owned by their own role.

`setup_statements(role, password, database)` is what an administrator (the database's master user) runs
once: a login role for the drift job, a `monitoring` schema it owns, nothing on MLflow's tables. The drift
job connects as that role, creates its tables if needed (`ensure_tables`) and appends one run per model
and window (`insert_run`).
"""

from __future__ import annotations

import re
from typing import Any

SCHEMA = "monitoring"
ROLE = "mlplatform_monitoring"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

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


def _ident(value: str, what: str) -> str:
    if not _IDENT.match(value):
        raise ValueError(f"{what}: {value!r} is not a plain SQL identifier (lowercase letters, digits, '_')")
    return value


def setup_statements(role: str = ROLE, database: str = "mlflow") -> list[str]:
    """What the database's administrator runs once (the password is bound as a parameter: `%(password)s`)."""
    r, db = _ident(role, "role"), _ident(database, "database")
    return [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{r}') THEN CREATE ROLE {r} LOGIN; END IF; END $$",
        f"ALTER ROLE {r} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %(password)s",
        f"GRANT CONNECT ON DATABASE {db} TO {r}",
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA} AUTHORIZATION {r}",
        f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC",
        f"ALTER ROLE {r} SET search_path = {SCHEMA}",
    ]


def setup(conn: Any, password: str, role: str = ROLE, database: str = "mlflow") -> None:
    """Run `setup_statements` as the administrator (DDL takes no bound parameters: the password is quoted
    client-side by psycopg's sql.Literal)."""
    from psycopg import sql

    with conn.cursor() as cur:
        for statement in setup_statements(role, database):
            if "%(password)s" in statement:
                cur.execute(sql.SQL(statement.replace("%(password)s", "{}")).format(sql.Literal(password)))
            else:
                cur.execute(statement)
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
