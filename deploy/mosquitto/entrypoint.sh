#!/bin/sh
# Entry point of the mosquitto service (docker-compose.yml): on first start, the dynamic security plugin's
# configuration with a single client, the service's broker admin (VC_MQTT_DYNSEC: the service then creates an account
# per registered vehicle), whose password the init service made; then the command (the image's own entry point).
#   MQTT_ADMIN_USERNAME, MQTT_ADMIN_PASSWORD_FILE  the service's broker admin
#   MOSQUITTO_DYNSEC_FILE  the plugin's configuration, as mosquitto.conf names it (default /mosquitto/data/dynamic-security.json)
set -eu
dynsec="${MOSQUITTO_DYNSEC_FILE:-/mosquitto/data/dynamic-security.json}"
if [ ! -s "$dynsec" ]; then
  mosquitto_ctrl dynsec init "$dynsec" "$MQTT_ADMIN_USERNAME" "$(cat "$MQTT_ADMIN_PASSWORD_FILE")" >/dev/null
  echo "mosquitto: dynamic security initialised with the admin $MQTT_ADMIN_USERNAME"
fi
exec "$@"
