# syntax=docker/dockerfile:1
# Build: a static binary (the embedded database is pure Go, no cgo).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/timecamp-scim ./cmd/timecamp-scim \
 && mkdir -p /out/data

# Run: no shell, no package manager, a non-root user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/timecamp-scim /usr/local/bin/timecamp-scim
COPY --from=build --chown=65532:65532 /out/data /data
ENV SCIM_ADDR=:8080 \
    SCIM_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/timecamp-scim"]
CMD ["serve"]
