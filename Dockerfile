# Gatehouse as a container image: built with the official Rust image, run on distroless
# (glibc, CA certificates, no shell, no package manager) as the unprivileged user 65532.
#
#   docker build -t gatehouse .
#   docker run -d --name gatehouse -p 8080:8080 -v gatehouse-data:/var/lib/gatehouse \
#     -e GATEHOUSE__ISSUER=https://login.example.org \
#     -e GATEHOUSE__LDAP__URL=ldaps://ldap.example.org -e GATEHOUSE__LDAP__BASE_DN=dc=example,dc=org \
#     gatehouse
#
# The configuration is /etc/gatehouse/gatehouse.toml (packaging/container.toml): listen on
# 0.0.0.0:8080, state in the volume /var/lib/gatehouse; everything else through
# GATEHOUSE__SECTION__KEY variables or a file of your own mounted over it.

FROM docker.io/library/rust:1.95-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY migrations migrations
COPY src src
COPY templates templates
COPY static static
RUN cargo build --release --locked --bin gatehouse \
    && install -D -m 0755 target/release/gatehouse /out/usr/local/bin/gatehouse \
    && install -d -m 0700 /out/var/lib/gatehouse
COPY packaging/container.toml /out/etc/gatehouse/gatehouse.toml

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/usr/local/bin/gatehouse /usr/local/bin/gatehouse
COPY --from=builder /out/etc/gatehouse /etc/gatehouse
COPY --from=builder --chown=65532:65532 /out/var/lib/ /var/lib/
USER 65532:65532
ENV GATEHOUSE_CONFIG=/etc/gatehouse/gatehouse.toml
VOLUME ["/var/lib/gatehouse"]
EXPOSE 8080
# No curl in the image: the binary asks its own /healthz.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/gatehouse", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
