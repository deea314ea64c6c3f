# The controller image: `docker build -t waybill:0.1.0 .`
# Stage 1 builds the stripped `dist` binary (libgit2, libssh2 and OpenSSL are vendored and linked in
# statically); stage 2 is distroless with only glibc and CA certificates, running as non-root.
FROM rust:1.89-bookworm AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends cmake perl make && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --locked --profile dist -p waybill && cp target/dist/waybill /waybill

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /waybill /usr/local/bin/waybill
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/waybill"]
CMD ["controller", "--leader-elect"]
