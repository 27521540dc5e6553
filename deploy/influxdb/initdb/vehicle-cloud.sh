# Sourced by the influxdb image's first-start script (/init-influxdb.sh) once the admin and the database exist, with
# a server on 127.0.0.1:$INFLUXDB_INIT_PORT: the service's user (read and write on the database, no admin), Grafana's
# read-only user, and the retention policies the service is configured with, which only an admin may create (the
# service checks them at start and names what to run when they differ: docs/operations.md, Deployment).
#   INFLUXDB_SERVICE_USER, INFLUXDB_SERVICE_PASSWORD_FILE, INFLUXDB_GRAFANA_USER, INFLUXDB_GRAFANA_PASSWORD_FILE
#   VC_INFLUX_RETENTION_RAW, VC_INFLUX_RETENTION_ROLLUPS  as the service's (docker-compose.yml shares them)

vc_influxql() {
  local answer
  # the admin's credentials through curl's config on stdin, never on a command line
  answer="$(printf 'user = "%s:%s"\n' "$INFLUXDB_ADMIN_USER" "$INFLUXDB_ADMIN_PASSWORD" |
    curl --silent --show-error --config - --data-urlencode "q=$1" "http://127.0.0.1:${INFLUXDB_INIT_PORT:-8086}/query")"
  case "$answer" in
    *'"error"'*) echo "vehicle-cloud: InfluxQL refused (${1%% WITH PASSWORD*}): $answer" >&2; return 1 ;;
  esac
}

vc_password() {
  local password
  password="$(cat "$1")"
  # the password goes into an InfluxQL string literal
  case "$password" in *"'"* | *'\'* | "") echo "vehicle-cloud: the password in $1 is empty or holds a quote or backslash" >&2; return 1 ;; esac
  printf '%s' "$password"
}

vc_influxql "CREATE USER \"$INFLUXDB_SERVICE_USER\" WITH PASSWORD '$(vc_password "$INFLUXDB_SERVICE_PASSWORD_FILE")'"
vc_influxql "GRANT ALL ON \"$INFLUXDB_DB\" TO \"$INFLUXDB_SERVICE_USER\""
vc_influxql "CREATE USER \"$INFLUXDB_GRAFANA_USER\" WITH PASSWORD '$(vc_password "$INFLUXDB_GRAFANA_PASSWORD_FILE")'"
vc_influxql "GRANT READ ON \"$INFLUXDB_DB\" TO \"$INFLUXDB_GRAFANA_USER\""
# no SHARD DURATION: InfluxDB picks the one the service expects (services/store/influx/retention.ts, shardGroupMs)
if [ -n "${VC_INFLUX_RETENTION_RAW:-}" ]; then
  vc_influxql "CREATE RETENTION POLICY \"vc_raw\" ON \"$INFLUXDB_DB\" DURATION ${VC_INFLUX_RETENTION_RAW} REPLICATION 1 DEFAULT"
fi
vc_influxql "CREATE RETENTION POLICY \"vc_rollups\" ON \"$INFLUXDB_DB\" DURATION ${VC_INFLUX_RETENTION_ROLLUPS:-INF} REPLICATION 1"
echo "vehicle-cloud: InfluxDB users $INFLUXDB_SERVICE_USER (read and write) and $INFLUXDB_GRAFANA_USER (read only), retention policies ready"
