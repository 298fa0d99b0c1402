# sipedge container: Node 20 on Debian bookworm, embedded store under /data (mount a volume there); the portal is
# served on the HTTP port.
# Stage 1 builds the optional native parts, the RTP sender and the SIP UDP I/O (needs a C compiler, which the slim
# image does not have).
FROM node:20-bookworm AS native
WORKDIR /build
COPY scripts/build-native.mjs ./scripts/
COPY src/media/native ./src/media/native
COPY src/transport/native ./src/transport/native
RUN node scripts/build-native.mjs --require

FROM node:20-bookworm-slim
WORKDIR /app
# npm ci's prepare script bundles the portal (esbuild, Preact, SIP.js: dependencies) into build/portal/ and builds the
# edge to JavaScript in dist/ (typescript: a dependency), so the sources and build scripts come first.
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts/build-portal.mjs scripts/build-dist.mjs ./scripts/
COPY src ./src
RUN npm ci --omit=dev --no-audit --no-fund && test -f build/portal/assets/app.js && test -f dist/cli/main.js && npm cache clean --force
COPY bin ./bin
COPY config ./config
COPY --from=native /build/build/native ./build/native
ENV SIPEDGE_DATA_DIR=/data \
    SIPEDGE_SIP_UDP=0.0.0.0:5060 \
    SIPEDGE_SIP_TCP=0.0.0.0:5060 \
    SIPEDGE_SIP_WS=0.0.0.0:5066 \
    SIPEDGE_SIP_TLS=0.0.0.0:5061 \
    SIPEDGE_SIP_WSS=0.0.0.0:7443 \
    SIPEDGE_HTTP=0.0.0.0:8080 \
    SIPEDGE_HTTPS=0.0.0.0:8443
VOLUME /data
EXPOSE 5060/udp 5060/tcp 5061/tcp 5066/tcp 7443/tcp 8080/tcp 8443/tcp
HEALTHCHECK --interval=15s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--max-semi-space-size=64", "bin/sipedge.js"]
CMD ["start"]
