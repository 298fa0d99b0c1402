# sipedge container: Node 24 LTS on Debian bookworm, run as the unprivileged `node` user, embedded store under /data
# (owned by that user; mount a volume there); the portal is served on the HTTP port. Node 24 is also what the README's
# two commands run on (scripts/node24.sh installs it; README "Runtime").
# Stage 1 installs every dependency (npm ci's prepare script bundles the portal into build/portal/ and compiles the
# edge into dist/ with tsc and the @types packages, development dependencies) and builds the optional native parts,
# the RTP sender and the SIP UDP I/O (a C compiler, which the slim image does not have).
FROM node:24-bookworm AS build
WORKDIR /build
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts/build-portal.mjs scripts/build-dist.mjs scripts/build-native.mjs ./scripts/
COPY src ./src
RUN npm ci --no-audit --no-fund && test -f build/portal/assets/app.js && test -f dist/cli/main.js \
    && node scripts/build-native.mjs --require

# Stage 2: the runtime dependencies only (no scripts: what they would build is copied from stage 1; argon2 loads its
# prebuilt binary), the built edge, portal and native parts.
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /build/dist ./dist
COPY --from=build /build/build ./build
COPY bin ./bin
COPY config ./config
ENV SIPEDGE_DATA_DIR=/data \
    SIPEDGE_SIP_UDP=0.0.0.0:5060 \
    SIPEDGE_SIP_TCP=0.0.0.0:5060 \
    SIPEDGE_SIP_WS=0.0.0.0:5066 \
    SIPEDGE_SIP_TLS=0.0.0.0:5061 \
    SIPEDGE_SIP_WSS=0.0.0.0:7443 \
    SIPEDGE_HTTP=0.0.0.0:8080 \
    SIPEDGE_HTTPS=0.0.0.0:8443
# The app stays root's and read-only to the edge; only /data is the edge's (every listen port is above 1024).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 5060/udp 5060/tcp 5061/tcp 5066/tcp 7443/tcp 8080/tcp 8443/tcp
# Asks /healthz on the configured HTTP address (SIPEDGE_HTTP, or http.listen in the file SIPEDGE_CONFIG names).
HEALTHCHECK --interval=15s --timeout=5s CMD ["node", "bin/sipedge.js", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--max-semi-space-size=64", "bin/sipedge.js"]
CMD ["start"]
