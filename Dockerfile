# syntax=docker/dockerfile:1
#
# One image for every survey-alerts binary: survey-ingest, survey-filter,
# survey-enricher, survey-notifier, survey-ctl and survey-sandbox. The image
# has no entrypoint of its own choosing; the deployment names the binary
# (compose `command:`, Kubernetes `args:`).
#
#   docker build -t survey-alerts:dev .

ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
# librdkafka is built from source by rdkafka-sys; it needs a C toolchain
# (in the rust image), cmake, pkg-config and zlib's headers.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY . .
# The caches keep the registry and the target directory between builds; the
# binaries are copied out because a cache mount is gone after the step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bins \
      -p survey-ingest -p survey-filter -p survey-enricher -p survey-notifier \
      -p survey-ctl -p survey-sandbox \
 && mkdir -p /out \
 && for bin in survey-ingest survey-filter survey-enricher survey-notifier survey-ctl survey-sandbox; do \
      cp "target/release/$bin" /out/; \
    done

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to Genesys Cloud, Slack, Teams and SMTP relays.
# curl: container health checks (compose); Kubernetes probes use httpGet.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 survey \
 && useradd --system --uid 10001 --gid survey --no-create-home --shell /usr/sbin/nologin survey
COPY --from=builder /out/ /usr/local/bin/
# The notifier's message templates, editable without a rebuild by mounting
# another directory here (TEMPLATES_DIR); a file missing there falls back to
# the built-in default.
COPY services/notifier/templates/ /etc/survey-alerts/templates/
USER 10001:10001
EXPOSE 8080 9090
# No ENTRYPOINT: `command: ["survey-filter"]` (compose) or `args:` (Kubernetes)
# picks the binary. Run without one, the image prints the topic registry.
CMD ["survey-ctl", "topics"]
