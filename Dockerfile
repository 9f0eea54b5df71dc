# greenroom's image: a static binary on an empty base, run as a non-root user.
#
# The builder stage compiles a fully static binary (glibc +crt-static, with
# OpenSSL linked statically for libgit2). CI may replace the stage with a
# binary it built already, through a build context named `builder`
# (see scripts/delivery-check.sh).
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
ENV RUSTFLAGS="-C target-feature=+crt-static" OPENSSL_STATIC=1
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config \
 && cargo build --profile image --locked --target x86_64-unknown-linux-gnu -p greenroom \
 && mkdir -p /out/data /out/tmp /out/etc/ssl/certs \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && cp target/x86_64-unknown-linux-gnu/image/greenroom /out/greenroom

FROM scratch
ARG REVISION=unknown
ARG VERSION=0.1.0
ARG SOURCE=https://example.invalid/platform/greenroom
LABEL org.opencontainers.image.title="greenroom" \
      org.opencontainers.image.description="An internal developer portal in one binary" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/greenroom /greenroom
# CA certificates for HTTPS (url locations, SCM APIs, git over https).
COPY --from=builder /out/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY deploy/app-config.container.yaml /etc/greenroom/app-config.yaml
# Writable places for a read-only root: mount volumes here in Kubernetes.
COPY --from=builder --chown=65532:65532 /out/data /data
COPY --from=builder --chown=65532:65532 /out/tmp /tmp
ENV TMPDIR=/tmp
USER 65532:65532
EXPOSE 7007
ENTRYPOINT ["/greenroom", "serve", "--config", "/etc/greenroom/app-config.yaml"]
