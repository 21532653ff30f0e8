# Wharf's image around a static binary built outside Docker: what the release pipeline publishes
# (.github/workflows/ci.yml, one binary per architecture), and what the tests build offline.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -f docker/prebuilt.Dockerfile .
#   DOCKER_BUILDKIT=0 docker build --build-arg TARGETARCH=amd64 -f docker/prebuilt.Dockerfile .
#
# It expects dist/linux-<arch>/wharf in the build context (<arch> is Docker's: amd64, arm64). BuildKit
# sets TARGETARCH for each platform; the classic builder needs it as a build argument. The `base`
# stage is the Dockerfile's, line for line (tests/docker_files.rs checks it); see that file for what
# it holds.

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

FROM base AS runtime
ARG TARGETARCH
COPY dist/linux-${TARGETARCH}/wharf /wharf
