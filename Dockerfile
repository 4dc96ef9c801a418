# Node 22 LTS: the newest release line oidc-provider (the embedded local IdP) supports; the bridge needs >= 20.19.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; tsx is one of them, since the bridge runs its TypeScript sources directly.
RUN npm ci --omit=dev && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=3000 \
    DCR_LOCAL_DATA_DIR=/app/data
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY drivers ./drivers
COPY spec ./spec
RUN mkdir -p /app/data && chown node:node /app/data
USER node
VOLUME ["/app/data"]
EXPOSE 3000
# Plain node, no curl in the image; HTTPS when the bridge serves TLS itself (its certificate is not checked here).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const tls = Boolean(process.env.TLS_CERT_FILE || process.env.TLS_CERT_FILE_FILE); require(tls ? 'node:https' : 'node:http').get({ host: '127.0.0.1', port: process.env.PORT, path: '/healthz', rejectUnauthorized: false, timeout: 4000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1))"]
# node directly rather than npm start, so SIGTERM reaches the bridge and it shuts down gracefully.
CMD ["node", "--import", "tsx", "src/main.ts"]
