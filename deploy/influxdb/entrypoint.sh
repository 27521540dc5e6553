#!/bin/bash
# Entry point of the influxdb service (docker-compose.yml). On first start (no meta directory yet) the image's own
# first-start script (/init-influxdb.sh) creates the admin, the database and runs initdb/; it takes the admin password
# from the environment only, so it is read from INFLUXDB_ADMIN_PASSWORD_FILE for that script alone, and the server
# started after it never holds it.
set -euo pipefail
if [ ! -d "${INFLUXDB_META_DIR:-/var/lib/influxdb/meta}" ]; then
  INFLUXDB_ADMIN_PASSWORD="$(cat "$INFLUXDB_ADMIN_PASSWORD_FILE")" /init-influxdb.sh
fi
exec "$@"
