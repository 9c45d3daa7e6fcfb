# syntax=docker/dockerfile:1
# Three stages:
#   build       all dependencies, the single-file bundle (npm run bundle: every dependency inlined)
#   demo-fleet  the simulated Gitaly fleet for docker-compose (TypeScript through tsx, a devDependency,
#               so it reuses the build stage): docker build --target demo-fleet .
#   (last)      the exporter: the bundle alone, no node_modules, as user node
# Base images are pinned by tag: no registry was reachable to read a digest from when this was
# written; add @sha256:… after the tag where yours is (docs/deploy.md, "The images").
FROM node:24.22.3-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle.ts ./scripts/
RUN npm run bundle

FROM build AS demo-fleet
RUN mkdir /demo && chown node:node /demo
USER node
ENTRYPOINT ["/app/node_modules/.bin/tsx", "src/demo/main.ts"]
CMD ["--host", "0.0.0.0", "--advertise-host", "demo-fleet", "--base-port", "10000", "--dir", "/demo"]

FROM node:24.22.3-bookworm-slim AS exporter
ENV NODE_ENV=production
WORKDIR /app
# package.json only says the bundle is an ES module ("type": "module"); its version is compiled in.
COPY package.json ./
COPY --from=build /app/dist/gitaly-tls-exporter.mjs ./dist/main.js
# Where the compose stack keeps the exporter's state file (a named volume inherits this owner).
RUN mkdir /state && chown node:node /state
USER node
EXPOSE 9787
# The slim image has no curl; Node has fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9787/-/healthy').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/main.js"]
CMD ["--config.file", "/etc/gitaly-tls-exporter/config.yml"]
