# syntax=docker/dockerfile:1
# Herald gateway node. Multi-stage: build with dev dependencies (tsc, esbuild for the browser SDK), run
# the compiled output with production dependencies only, as the unprivileged `node` user.
# Node 24 is the current LTS line (package.json asks for >= 20.19); both stages use the same image.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# Everything `npm run build` reads: tsc's config and sources, and the SDK bundler script.
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY services ./services
COPY shared ./shared
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8080
# Slim images have no curl: Node's fetch checks readiness (fails while the node drains).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM (docker stop) starts the graceful drain; exec form, so node itself receives it.
STOPSIGNAL SIGTERM
CMD ["node", "--enable-source-maps", "dist/services/main.js"]
