# syntax=docker/dockerfile:1
# Build stage: the production ecsgate binary (Caddy + ecs_policy), static,
# with the shipped policy embedded. The ECS simulator is only in the demo
# binary (cmd/ecsgate-demo), which is not built here; the build fails if it
# ever shows up in ecsgate's modules.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/ecsgate ./cmd/ecsgate \
 && /out/ecsgate version \
 && /out/ecsgate list-modules >/tmp/modules \
 && ! grep -F ecs_simulator /tmp/modules

# Runtime stage: no shell, no package manager, a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ecsgate /usr/bin/ecsgate
# The production configurations only: demo.Caddyfile needs the simulator.
COPY config/gateway.Caddyfile config/huawei.Caddyfile config/tracing.Caddyfile /etc/ecsgate/config/
COPY rego/ecsgate/authz.rego /etc/ecsgate/policy/authz.rego
ENV XDG_CONFIG_HOME=/tmp XDG_DATA_HOME=/tmp
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/bin/ecsgate"]
CMD ["run", "--config", "/etc/ecsgate/config/gateway.Caddyfile", "--adapter", "caddyfile"]
