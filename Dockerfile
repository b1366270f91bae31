# Builds s3vol's managed-plugin rootfs with a registry at hand:
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t s3vol-rootfs .
#   rm -rf dist/plugin && mkdir -p dist/plugin/rootfs
#   id=$(docker create s3vol-rootfs) && docker export "$id" | tar -x -C dist/plugin/rootfs && docker rm "$id"
#   cp config.json dist/plugin/ && docker plugin create s3vol dist/plugin
#
# (docker export adds the /dev, /proc, /sys and /etc/hosts, /etc/resolv.conf
# mount points the engine binds into the plugin.) Then configure and enable
# it like the plugin `make plugin` builds: `make plugin-enable ...`.
# Without a registry, `make plugin` assembles the same rootfs from the host.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/s3vol ./plugin \
 && mkdir -p /out/rootfs/bin /out/rootfs/etc/ssl/certs /out/rootfs/run/docker/plugins /out/rootfs/mnt/volumes \
      /out/rootfs/var/lib/s3vol /out/rootfs/etc/s3vol /out/rootfs/tmp \
 && chmod 1777 /out/rootfs/tmp \
 && cp /out/s3vol /out/rootfs/bin/s3vol \
 && cp /etc/ssl/certs/ca-certificates.crt /out/rootfs/etc/ssl/certs/

# The plugin needs no shell, libc or fusermount: the daemon mounts FUSE
# directly (it has CAP_SYS_ADMIN) and is statically linked.
FROM scratch
COPY --from=build /out/rootfs/ /
ENTRYPOINT ["/bin/s3vol", "serve"]
