# Node 22 LTS: the newest release line oidc-provider (the embedded local IdP) supports; the bridge needs >= 20.19.
ARG NODE_IMAGE=node:22-bookworm-slim

# Compiles the TypeScript sources to dist/ with the dev dependencies (typescript, tsx, esbuild), derives dist/spec/ from
# the API description (scripts/derive-spec.ts) and bundles the Okta, Auth0 and AWS Cognito SDKs into dist/sdk/
# (scripts/bundle-sdks.ts, with V8 code caches made by this image's node under the CMD's flags; the next stage
# installs the same versions from the same lockfile); nothing of this stage ships but dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts
COPY src ./src
COPY drivers ./drivers
COPY spec ./spec
COPY scripts/derive-spec.ts scripts/bundle-sdks.ts scripts/start-arguments.ts scripts/record-build.ts ./scripts/
# The build context has no .git: `docker build --build-arg DCR_BUILD_COMMIT=$(git rev-parse HEAD) .` names the commit
# that GET /version and dcr_build_info report (`unknown` without it).
ARG DCR_BUILD_COMMIT=""
RUN DCR_BUILD_COMMIT="${DCR_BUILD_COMMIT}" npm run build

# Production dependencies only: no typescript, no tsx, no esbuild. Their install scripts stay off, but for the one
# native addon, better-sqlite3 (the rfc7591 driver's SQLite state store): `npm rebuild` runs its install, which fetches
# the prebuilt binary for this image's node and libc or, failing that, compiles it with the tools installed here. Only
# node_modules/ leaves this stage, so the compilers never reach the image. `npm run check:image` fails when a package
# with a binding.gyp ends up without its built .node file.
FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm rebuild better-sqlite3 && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=3000 \
    DCR_LOCAL_DATA_DIR=/app/data
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY spec ./spec
RUN mkdir -p /app/data && chown node:node /app/data
USER node
VOLUME ["/app/data"]
EXPOSE 3000
# Plain node, no curl in the image; HTTPS when the bridge serves TLS itself (its certificate is not checked here).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const tls = Boolean(process.env.TLS_CERT_FILE || process.env.TLS_CERT_FILE_FILE); require(tls ? 'node:https' : 'node:http').get({ host: '127.0.0.1', port: process.env.PORT, path: '/healthz', rejectUnauthorized: false, timeout: 4000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1))"]
# node directly, not npm start, so SIGTERM reaches the bridge and it shuts down gracefully; the same arguments as
# `npm start` (a young generation of 4 MiB semi-spaces: README, "Benchmark").
CMD ["node", "--max-semi-space-size=4", "--max-old-space-size=1024", "dist/src/main.js"]
