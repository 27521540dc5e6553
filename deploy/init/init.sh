#!/usr/bin/env bash
# The docker-compose deployment's first-start step (docker-compose.yml, service `init`, a one-shot run before every
# other service): makes every password and the vehicles' TLS certificate that is not there yet, and hands each service
# only the secrets it needs, each service's in a volume of its own mounted by that service alone. It runs again at
# every `docker-compose up` and never replaces a password or certificate that exists: put your own in place and it is
# kept (docs/operations.md, Deployment). It needs bash and openssl (the influxdb image has both) and no network.
#   VC_INIT_DIR     where the volumes are mounted (default /vc): secrets/ is this step's own, the others the services'
#   MQTT_TLS_HOSTS  the names and addresses vehicles reach the broker by, comma-separated (default localhost,127.0.0.1)
set -euo pipefail

root="${VC_INIT_DIR:-/vc}"
hosts="${MQTT_TLS_HOSTS:-localhost,127.0.0.1}"
own="$root/secrets"
umask 077
mkdir -p "$own"
chmod 0700 "$own"

# 128 random bits as 32 hex digits: safe unquoted in a URL, a config file, InfluxQL and SQL
for name in influxdb-admin influxdb-service influxdb-grafana postgres-admin postgres-service mqtt-admin grafana-admin metrics-token; do
  if [ ! -s "$own/$name" ]; then
    openssl rand -hex 16 >"$own/$name.tmp"
    mv "$own/$name.tmp" "$own/$name"
    echo "init: generated the $name password"
  fi
done

# The vehicles' TLS: a private CA (its key never leaves this step's volume) and a server certificate for the broker.
tls="$root/mosquitto-tls"
mkdir -p "$tls"
if [ ! -s "$tls/server.crt" ] || [ ! -s "$tls/server.key" ]; then
  if [ ! -s "$own/ca.key" ]; then
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
      -subj "/CN=vehicle-cloud MQTT CA" -keyout "$own/ca.key" -out "$own/ca.crt" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    echo "init: generated the vehicles' certificate authority"
  fi
  san=""
  IFS=',' read -r -a names <<<"$hosts"
  for name in "${names[@]}"; do
    name="${name//[[:space:]]/}"
    [ -n "$name" ] || continue
    if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then san="$san,IP:$name"; else san="$san,DNS:$name"; fi
  done
  [ -n "$san" ] || { echo "init: MQTT_TLS_HOSTS names no host" >&2; exit 1; }
  printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' "${san#,}" >"$own/server.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=${names[0]// /}" \
    -keyout "$tls/server.key.tmp" -out "$own/server.csr" 2>/dev/null
  openssl x509 -req -sha256 -days 825 -in "$own/server.csr" -CA "$own/ca.crt" -CAkey "$own/ca.key" \
    -CAserial "$own/ca.srl" -CAcreateserial -extfile "$own/server.ext" -out "$tls/server.crt.tmp" 2>/dev/null
  cp "$own/ca.crt" "$tls/ca.crt.tmp"
  mv "$tls/ca.crt.tmp" "$tls/ca.crt"
  mv "$tls/server.crt.tmp" "$tls/server.crt"
  mv "$tls/server.key.tmp" "$tls/server.key"
  echo "init: generated the broker's TLS certificate for ${san#,}"
fi
# Mosquitto (uid 1883 in eclipse-mosquitto) reads its key; vehicles get ca.crt. Nothing to change on mounted files.
if [ -w "$tls" ]; then
  chmod 0755 "$tls"
  chown 1883:1883 "$tls/server.key" 2>/dev/null || true
  chmod 0400 "$tls/server.key"
  chmod 0444 "$tls/server.crt" "$tls/ca.crt" 2>/dev/null || true
fi

# hand <service> <uid of its user> <secret>...: copied at every run, so a changed password reaches its services
hand() {
  local service="$1" uid="$2"
  shift 2
  mkdir -p "$root/$service"
  chmod 0755 "$root/$service"
  for name in "$@"; do
    cp "$own/$name" "$root/$service/$name.tmp"
    if [ "$uid" = any ]; then
      chmod 0444 "$root/$service/$name.tmp"
    else
      chown "$uid:$uid" "$root/$service/$name.tmp" 2>/dev/null || true
      chmod 0400 "$root/$service/$name.tmp"
    fi
    mv "$root/$service/$name.tmp" "$root/$service/$name"
  done
}
hand mosquitto 1883 mqtt-admin
# the influxdb image's user has no fixed uid: readable by any user of that container, the only one to mount it
hand influxdb any influxdb-admin influxdb-service influxdb-grafana
hand postgres 999 postgres-admin postgres-service
hand vehicle-cloud 1000 influxdb-service postgres-service mqtt-admin metrics-token
hand grafana 472 grafana-admin influxdb-grafana
hand prometheus 65534 metrics-token
echo "init: secrets and certificates in place"
