#!/usr/bin/env bash
# Make (or reuse) a local Debian bookworm Python base image for Bento builds.
#
# Public container registries cannot be reached from this machine, so the base
# image for `bentoml containerize` is built locally from Debian packages:
# debootstrap (minbase + python3, python3-venv, python3-pip, ca-certificates)
# from the Debian mirror apt is configured with, this machine's CA bundle copied
# in, Debian's EXTERNALLY-MANAGED marker removed and uv installed with pip
# (BentoML's generated Dockerfile needs both), then `docker import` with
# UV_NATIVE_TLS=1 and SSL_CERT_FILE set so uv trusts the system CA store.
#
# Idempotent: if `docker image inspect IMAGE` finds the image, it is reused.
#
# Usage: deploy/container/base_image.sh [IMAGE]   (default credit-scoring-base:bookworm)
# Env:   DEBIAN_MIRROR  override the mirror (default: first deb.debian.org-style
#                       URI from /etc/apt/sources.list{,.d/*})
#        WORK_DIR       scratch dir for the rootfs (default: a mktemp dir, removed)
# Needs: root and a running engine (deploy/container/engine.sh).
set -euo pipefail

IMAGE="${1:-credit-scoring-base:bookworm}"
SUITE=bookworm
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[base-image] %s\n' "$*"; }
die() { printf '[base-image] ERROR: %s\n' "$*" >&2; exit 1; }

"$HERE/engine.sh"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "reusing existing image $IMAGE ($(docker image inspect --format '{{.Id}}' "$IMAGE"))"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "building the base image needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap missing (engine.sh installs it)"

find_mirror() {
    # deb822 files: "URIs: http://..."; one-line format: "deb http://... suite comp".
    # Take the first plain Debian archive (not -security, not a third-party repo).
    local files=() f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    [ "${#files[@]}" -gt 0 ] || return 0
    grep -hoE '^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)[a-z]+://[^[:space:]]+' "${files[@]}" \
        | grep -oE '[a-z]+://[^[:space:]]+' \
        | grep -E '/debian/?$' | head -n 1 || true
}
MIRROR="${DEBIAN_MIRROR:-$(find_mirror)}"
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR"
log "Debian mirror: $MIRROR"

CLEANUP=0
if [ -z "${WORK_DIR:-}" ]; then
    WORK_DIR="$(mktemp -d /tmp/base-image.XXXXXX)"
    CLEANUP=1
fi
mkdir -p "$WORK_DIR"
ROOTFS="$WORK_DIR/rootfs"
cleanup() {
    # Unmount anything left mounted in the chroot, then drop the scratch dir.
    for m in proc dev/pts dev sys; do
        if mountpoint -q "$ROOTFS/$m" 2>/dev/null; then umount -l "$ROOTFS/$m" || true; fi
    done
    if [ "$CLEANUP" -eq 1 ]; then rm -rf "$WORK_DIR"; fi
}
trap cleanup EXIT

start=$SECONDS
if [ -x "$ROOTFS/usr/bin/python3" ] && [ -f "$ROOTFS/.debootstrap-done" ]; then
    log "reusing rootfs in $ROOTFS"
else
    rm -rf "$ROOTFS"
    log "debootstrap $SUITE into $ROOTFS (a few minutes)"
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates \
        "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK_DIR/debootstrap.log" 2>&1 \
        || { tail -n 30 "$WORK_DIR/debootstrap.log" >&2; die "debootstrap failed (log: $WORK_DIR/debootstrap.log)"; }
    touch "$ROOTFS/.debootstrap-done"
    log "debootstrap done in $((SECONDS - start))s"
fi

log "copying this machine's CA bundle into the rootfs"
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true

log "removing EXTERNALLY-MANAGED and installing uv inside the chroot"
rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED
mount -t proc proc "$ROOTFS/proc"
PIP_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1)
[ -n "${PIP_INDEX_URL:-}" ] && PIP_ENV+=("PIP_INDEX_URL=$PIP_INDEX_URL")
chroot "$ROOTFS" "${PIP_ENV[@]}" python3 -m pip install --no-cache-dir --root-user-action=ignore uv
chroot "$ROOTFS" "${PIP_ENV[@]}" uv --version
umount "$ROOTFS/proc"

# Leave no build-time leftovers in the image.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/root/.cache
: >"$ROOTFS/etc/resolv.conf"

log "docker import -> $IMAGE"
tar --numeric-owner --exclude=./.debootstrap-done -C "$ROOTFS" -c . | docker import \
    --change 'ENV UV_NATIVE_TLS=1' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$IMAGE" >/dev/null

log "checking the image"
docker run --rm --network host "$IMAGE" sh -c 'python3 --version && uv --version && pip --version' \
    || die "image $IMAGE does not run python3/uv/pip"
log "built $IMAGE in $((SECONDS - start))s ($(docker image inspect --format '{{.Size}}' "$IMAGE") bytes)"
