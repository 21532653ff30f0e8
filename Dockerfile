# Wharf: a drop-in replacement for the registry:2 image, built from source.
#
#   docker build -t wharf .
#   docker run -d -p 5000:5000 -v registry-data:/var/lib/registry wharf
#
# Builds with BuildKit and with Docker's classic builder (DOCKER_BUILDKIT=0, which CapRover and
# docker-compose 1.x use and which builds every stage): every file copied is in the repository. The
# release pipeline (.github/workflows/ci.yml) builds the published multi-arch image from binaries it
# compiles itself, with docker/prebuilt.Dockerfile; the two files share their `base` stage line for
# line (tests/docker_files.rs checks it).
#
# Stages:
# - `base`: FROM scratch with the default config (equivalent to registry:2's), the `wharf` user
#   (uid 1000), the data and auth directories owned by it, and `registry` as an alias of `wharf`, so
#   `docker exec <c> registry garbage-collect <config>` keeps working. It starts as root, like
#   registry:2, so that a volume registry:2 wrote as root is served as it is: Wharf opens its port,
#   hands the storage root and the htpasswd file to WHARF_USER when they are not its own already,
#   and runs as that user from then on (docs/migrating.md).
# - `build`: compiles a static (musl) binary with the official Rust image;
# - `runtime` (the default target): `base` around that binary.

FROM scratch AS base
COPY docker/rootfs/ /
COPY --chown=1000:1000 docker/volumes/ /
ENV WHARF_USER=1000:1000
# `wharf healthcheck` (and `registry garbage-collect` without an argument) read the config `serve` uses.
ENV REGISTRY_CONFIGURATION_PATH=/etc/docker/registry/config.yml
EXPOSE 5000
VOLUME ["/var/lib/registry"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 CMD ["/wharf", "healthcheck"]
ENTRYPOINT ["/wharf"]
CMD ["serve", "/etc/docker/registry/config.yml"]

FROM rust:1-alpine AS build
# musl-dev follows the Alpine release under rust:1-alpine: a pinned version would break the build
# each time that image moves on.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock askama.toml ./
COPY src ./src
RUN cargo build --release --locked --bin wharf && cp target/release/wharf /wharf

FROM base AS runtime
COPY --from=build /wharf /wharf
