"""The `monitoring` schema's database role: the SQL that creates it, Pulumi-free.

The drift job writes its results to the metadata database (the one MLflow uses) in a schema of its own,
as a role of its own: `ROLE` logs in, owns the `SCHEMA` schema and has nothing else; MLflow's tables (in
`public`, owned by the administrator) stay out of its reach. `SETUP_SQL` is one plain SQL statement (a
`DO` block) an administrator runs: the database's master user, which on RDS has CREATEROLE but is no
superuser. It reads its three inputs from transaction-local settings, so psql (the in-cluster Job,
`PSQL_SCRIPT`) and psycopg (`stacks/monitoring/store.setup`) run the very same text, and the password is
never part of a logged statement's text except the `set_config` call. Idempotent: a second run changes
nothing but the password (set again, so a rotated Pulumi secret takes effect).

What it does, and why each step:
- creates the role (LOGIN NOINHERIT; CREATE ROLE's defaults: no superuser, createdb, createrole,
  replication or bypassrls) or, when it exists, refuses if it holds any of those (only a superuser could
  take them away: a least-privilege role is not quietly assumed) or is a member of another role;
- sets its password and a connection limit (the drift jobs of every model, one connection each);
- makes the administrator able to act for it (PostgreSQL >= 16: the SET option) so that it may give it
  a schema: `CREATE SCHEMA ... AUTHORIZATION`, or `ALTER SCHEMA ... OWNER TO` a schema left by a
  hand-run setup;
- takes every privilege on the schema from PUBLIC, grants CONNECT on this database when PUBLIC does
  not, and makes the schema its search_path.
Its tables it creates itself (`stacks/monitoring/store.ensure_tables`), so it owns them.
"""

from __future__ import annotations

import re

ROLE = "mlplatform_monitoring"
SCHEMA = "monitoring"
# Settings the script reads (custom settings need a dotted name; set transaction-local, never persisted).
ROLE_SETTING = "mlplatform.monitoring_role"
SCHEMA_SETTING = "mlplatform.monitoring_schema"
PASSWORD_SETTING = "mlplatform.monitoring_password"
CONNECTION_LIMIT = 10
IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

SETUP_SQL = f"""DO $setup$
DECLARE
    r text := current_setting('{ROLE_SETTING}');
    s text := current_setting('{SCHEMA_SETTING}');
    pw text := current_setting('{PASSWORD_SETTING}');
    act text := CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END;
    existing record;
    owner text;
BEGIN
    IF r !~ '^[a-z_][a-z0-9_]{{0,62}}$' OR s !~ '^[a-z_][a-z0-9_]{{0,62}}$' THEN
        RAISE EXCEPTION 'role % and schema % must be plain lowercase identifiers', r, s;
    END IF;
    IF length(pw) < 20 THEN
        RAISE EXCEPTION 'the password of role % is shorter than 20 characters', r;
    END IF;
    IF NOT (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'the administrator % may not create roles: give it CREATEROLE (an adopted database''s '
            'secret must name such a user, as the RDS master user is)', current_user;
    END IF;
    SELECT * INTO existing FROM pg_roles WHERE rolname = r;
    IF NOT FOUND THEN
        EXECUTE format('CREATE ROLE %I LOGIN NOINHERIT', r);
    ELSIF existing.rolsuper OR existing.rolcreaterole OR existing.rolcreatedb OR existing.rolreplication
          OR existing.rolbypassrls THEN
        RAISE EXCEPTION 'role % exists with superuser, createrole, createdb, replication or bypassrls: '
            'drop it (or remove those) so it can be made with none', r;
    ELSIF EXISTS (SELECT FROM pg_auth_members WHERE member = existing.oid) THEN
        RAISE EXCEPTION 'role % is a member of another role: revoke that membership, it needs none', r;
    END IF;
    EXECUTE format('ALTER ROLE %I WITH LOGIN NOINHERIT CONNECTION LIMIT {CONNECTION_LIMIT} PASSWORD %L', r, pw);
    IF NOT pg_has_role(current_user, r, act) THEN
        EXECUTE format('GRANT %I TO %I', r, current_user);
    END IF;
    SELECT pg_get_userbyid(nspowner) INTO owner FROM pg_namespace WHERE nspname = s;
    IF owner IS NULL THEN
        EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', s, r);
    ELSIF owner <> r THEN
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', s, r);
    END IF;
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', s);
    IF NOT has_database_privilege(r, current_database(), 'CONNECT') THEN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r);
    END IF;
    EXECUTE format('ALTER ROLE %I SET search_path TO %I', r, s);
END
$setup$;
"""

# The Job's psql script: the password read from the mounted Secret file named by $MONITORING_DB_PASSWORD_FILE
# (psql's backquote runs the shell), role and schema from `-v role=... -v schema=...`; run with `--single-transaction`
# so the transaction-local settings reach the DO block. `\g /dev/null`: nothing of it reaches the Job's log.
PSQL_SCRIPT = (
    '\\set password `cat "$MONITORING_DB_PASSWORD_FILE"`\n'
    f"SELECT set_config('{ROLE_SETTING}', :'role', true), set_config('{SCHEMA_SETTING}', :'schema', true),\n"
    f"       set_config('{PASSWORD_SETTING}', :'password', true) \\g /dev/null\n"
    "\\unset password\n" + SETUP_SQL + "\\echo role :role owns schema :schema\n"
)


def psql_command(script: str, role: str = ROLE, schema: str = SCHEMA) -> list[str]:
    """The Job's command: the administrator's credentials read from the files of its Secret (directory
    $ADMIN_DIR, keys `username` and `password`), never from the pod's environment; the connection from
    libpq's PGHOST, PGPORT, PGDATABASE, PGSSLMODE, PGSSLROOTCERT."""
    if not IDENT.match(role) or not IDENT.match(schema):
        raise ValueError(f"role {role!r} and schema {schema!r} must be plain lowercase SQL identifiers")
    return [
        "sh",
        "-ec",
        'PGUSER="$(cat "$ADMIN_DIR/username")"; PGPASSWORD="$(cat "$ADMIN_DIR/password")"; '
        "export PGUSER PGPASSWORD; exec psql --no-psqlrc --quiet --single-transaction -v ON_ERROR_STOP=1 "
        f'-v role={role} -v schema={schema} -f "$1"',
        "monitoring-db-setup",
        script,
    ]


# The Kubernetes Secret the drift CronJobs mount: one libpq connection service file (host, port, dbname, user,
# password of the role), so the password is a file, never in the pod's environment; libpq finds it through
# DRIFT_DB_ENV (`psycopg.connect("")` in the job reads PGSERVICEFILE and PGSERVICE). A service file has no
# permission check (a pgpass file refuses the group-readable files a Secret volume gives a non-root user).
MONITORING_DB_SECRET = "mlplatform-monitoring-db"
MONITORING_DB_DIR = "/etc/monitoring-db"
SERVICE_FILE_KEY = "pg_service.conf"
SERVICE = "monitoring"
DRIFT_DB_ENV = {"PGSERVICEFILE": f"{MONITORING_DB_DIR}/{SERVICE_FILE_KEY}", "PGSERVICE": SERVICE}


def service_file(host: str, port: str | int, database: str, role: str, password: str) -> str:
    """The role's connection as a libpq service file (one section, `SERVICE`)."""
    values = {"host": host, "port": str(port), "dbname": database, "user": role, "password": password}
    bad = [k for k, v in values.items() if not v or any(c in v for c in "\r\n")]
    if bad:
        raise ValueError(f"{', '.join(bad)}: empty or not one line; cannot go into a libpq service file")
    return f"[{SERVICE}]\n" + "".join(f"{k}={v}\n" for k, v in values.items())
