# syntax=docker/dockerfile:1
# Three stages:
#   build       all dependencies, TypeScript compiled to dist/
#   demo-fleet  the simulated Gitaly fleet for docker-compose (TypeScript through tsx, a devDependency,
#               so it reuses the build stage): docker build --target demo-fleet .
#   (last)      the exporter: production dependencies and dist/ only, as user node
FROM node:24.22.3-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM build AS demo-fleet
RUN mkdir /demo && chown node:node /demo
USER node
ENTRYPOINT ["/app/node_modules/.bin/tsx", "src/demo/main.ts"]
CMD ["--host", "0.0.0.0", "--advertise-host", "demo-fleet", "--base-port", "10000", "--dir", "/demo"]

FROM node:24.22.3-bookworm-slim AS exporter
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Where the compose stack keeps the exporter's state file (a named volume inherits this owner).
RUN mkdir /state && chown node:node /state
USER node
EXPOSE 9787
# The slim image has no curl; Node has fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9787/-/healthy').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/main.js"]
CMD ["--config.file", "/etc/gitaly-tls-exporter/config.yml"]
