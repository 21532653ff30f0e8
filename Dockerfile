# Wharf: a drop-in replacement for the registry:2 image.
#
#   docker build -t wharf .
#   docker run -d -p 5000:5000 -v registry-data:/var/lib/registry wharf
#
# Stages:
# - `base`: FROM scratch with the default config (equivalent to registry:2's), a non-root user, the
#   data and auth directories owned by it, and `registry` as an alias of `wharf`, so
#   `docker exec <c> registry garbage-collect <config>` keeps working;
# - `prebuilt`: `base` around a static binary built outside Docker (offline CI); it comes before
#   `build` so that `docker build --target prebuilt` needs no base image at all;
# - `build`: compiles a static (musl) binary with the official Rust image;
# - `runtime` (the default target): `base` around that binary.

FROM scratch AS base
COPY docker/rootfs/ /
COPY --chown=1000:1000 docker/volumes/ /
USER 1000:1000
# `wharf healthcheck` (and `registry garbage-collect` without an argument) read the config `serve` uses.
ENV REGISTRY_CONFIGURATION_PATH=/etc/docker/registry/config.yml
EXPOSE 5000
VOLUME ["/var/lib/registry"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 CMD ["/wharf", "healthcheck"]
ENTRYPOINT ["/wharf"]
CMD ["serve", "/etc/docker/registry/config.yml"]

FROM base AS prebuilt
COPY wharf /wharf

FROM rust:1-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock askama.toml ./
COPY src ./src
RUN cargo build --release --locked --bin wharf && cp target/release/wharf /wharf

FROM base AS runtime
COPY --from=build /wharf /wharf
