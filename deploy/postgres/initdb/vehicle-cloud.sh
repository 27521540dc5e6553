#!/usr/bin/env bash
# Run by the postgres image on first start (/docker-entrypoint-initdb.d, as its superuser): the service's own role,
# owner of its own database and nothing more (no superuser, no CREATEDB, no CREATEROLE), with the password the init
# service made.
#   POSTGRES_SERVICE_USER, POSTGRES_SERVICE_DB, POSTGRES_SERVICE_PASSWORD_FILE
set -euo pipefail
# the password reaches psql through its environment (\getenv), never a command line
VC_SERVICE_PASSWORD="$(cat "$POSTGRES_SERVICE_PASSWORD_FILE")" psql -v ON_ERROR_STOP=1 --no-psqlrc \
  --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
  --set=role="$POSTGRES_SERVICE_USER" --set=db="$POSTGRES_SERVICE_DB" <<'SQL'
\getenv password VC_SERVICE_PASSWORD
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
echo "vehicle-cloud: PostgreSQL role $POSTGRES_SERVICE_USER owns database $POSTGRES_SERVICE_DB"
