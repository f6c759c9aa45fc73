# syntax=docker/dockerfile:1.7
# Keyportal's image. One image, three commands: `node server.js` (the default) serves the portal on
# port 3000; `node worker.mjs` runs the approval loop alone (the chart's worker Deployment);
# `node keyportal.mjs <command>` is the administrators' command line (sweep, offboard, lift).
#
# Everyone else builds on the public Node 20 image. Machines that cannot pull it pass their own
# through the two arguments (scripts/image.sh makes both from Debian packages with mmdebstrap):
# NODE_IMAGE needs node and npm, RUNTIME_IMAGE only node and CA certificates.
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim
ARG RUNTIME_IMAGE=${NODE_IMAGE}

FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV NEXT_TELEMETRY_DISABLED=1 CI=true
COPY package.json package-lock.json ./
# A registry behind a TLS-intercepting proxy: pass its CA as the build secret `npm-ca`; it is
# used for this step only and never lands in a layer.
RUN --mount=type=cache,target=/root/.npm \
    --mount=type=secret,id=npm-ca \
    if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi; \
    npm ci --no-audit --no-fund --loglevel=error
COPY . .
# Next's Turbopack build writes server source maps whatever the config says; they would publish
# the sources, so they stay here.
RUN KEYPORTAL_BUILD_STANDALONE=1 npx next build \
    && find .next/standalone .next/static -name '*.map' -delete \
    && npm run build:worker

FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
# NEXT_MANUAL_SIG_HANDLE: Next's own SIGTERM handler exits at once; the portal's finishes the
# loop's step in hand and hands back the Lease first (lib/shutdown.ts).
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    NEXT_MANUAL_SIG_HANDLE=true \
    PORT=3000 \
    HOSTNAME=0.0.0.0 \
    KEYPORTAL_CONFIG=/etc/keyportal/config.yaml
# Root owns every file, so the non-root user cannot change the code it runs. Writable paths are
# only what the chart mounts as emptyDir: /tmp and /app/.next/cache.
COPY --from=build /src/.next/standalone/ ./
COPY --from=build /src/.next/static/ ./.next/static/
COPY --from=build /src/dist/worker.mjs /src/dist/keyportal.mjs /src/dist/trial.mjs ./
USER 10001:10001
EXPOSE 3000 9464
CMD ["node", "server.js"]
