# syntax=docker/dockerfile:1
# Build stage: the ecsgate binary (Caddy + ecs_policy + the ECS simulator),
# static, with the shipped policy embedded.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/ecsgate ./cmd/ecsgate \
 && /out/ecsgate version

# Runtime stage: no shell, no package manager, a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ecsgate /usr/bin/ecsgate
COPY config/ /etc/ecsgate/config/
COPY rego/ecsgate/authz.rego /etc/ecsgate/policy/authz.rego
ENV XDG_CONFIG_HOME=/tmp XDG_DATA_HOME=/tmp
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/bin/ecsgate"]
CMD ["run", "--config", "/etc/ecsgate/config/gateway.Caddyfile", "--adapter", "caddyfile"]
