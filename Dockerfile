# forgebot's image: compiled JavaScript on Node 22 (LTS), production dependencies only, run as
# the unprivileged `node` user under tini. Build: docker build -t forgebot .
# Run: docker run --env-file .env -p 3000:3000 forgebot [start|web|worker|migrate|feature …]
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: every dependency, then tsc to dist/ ------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Only tsc runs here: no install script is needed to compile.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs scripts/build.mjs
COPY src/ src/
RUN npm run build

# ---- runtime: production dependencies and the compiled code ----------------------------
FROM ${NODE_IMAGE} AS runtime
# tini: PID 1 that forwards SIGTERM (workers checkpoint and close on it) and reaps children;
# git and bubblewrap: change sessions check out and run code in a sandbox.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini git bubblewrap ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist/ dist/
COPY bin/forgebot.js bin/forgebot.js
COPY config/ config/
COPY app.yml ./
# The embedded database (`forgebot start` without DATABASE_URL) and generated secrets live here.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/forgebot.js"]
CMD ["start"]
