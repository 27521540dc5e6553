# vehicle-cloud service image. TypeScript runs directly through tsx (a runtime dependency): no build step. The web
# cockpit (dashboards/web) is bundled by the service itself, in memory, on the first request for it: esbuild and the
# page's libraries are runtime dependencies, so --omit=dev below keeps them.
FROM node:20-slim

ENV NODE_ENV=production \
    VC_HOST=0.0.0.0 \
    VC_DATA_DIR=/data

WORKDIR /app

# Dependencies first, so this layer is rebuilt only when package.json or the lock file change.
# --ignore-scripts: the only install script in the tree is esbuild's binary check; its binary comes from an
# optional platform package either way.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

COPY . .

# The data dir holds the embedded store, the ingest spool and the generated admin token: owned by the
# unprivileged user, and a volume so that it outlives the container.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node

# 3000: HTTP API. 1883: the embedded MQTT broker, used only when VC_MQTT_URL is unset.
EXPOSE 3000 1883

# Node itself as the process (not npm start -> tsx -> node): SIGTERM reaches the service's graceful shutdown.
CMD ["node", "--import", "tsx", "services/server.ts"]
