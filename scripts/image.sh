#!/usr/bin/env bash
# `npm run image`: builds Keyportal's image from the Dockerfile with podman, without a daemon and
# without pulling from any registry. The two base images the Dockerfile takes as arguments are
# made here from Debian packages (mmdebstrap, trixie: Node 20.19), once, and kept in podman's
# store under a tag keyed by what they contain. Prints the image reference on its last line.
#
#   KEYPORTAL_IMAGE   the reference to build (default localhost/keyportal:dev)
#
# Where the public node:20 image can be pulled, `podman build .` (or `docker build .`) alone does
# the same with the Dockerfile's defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${KEYPORTAL_IMAGE:-localhost/keyportal:dev}
suite=trixie

say() { echo "image: $*" >&2; }
fail() { echo "image: step '$1' failed: $2" >&2; exit 1; }

for tool in podman mmdebstrap runc; do
  command -v "$tool" >/dev/null || fail "find $tool" "install Debian's podman, mmdebstrap and runc"
done

# These machines: crun refuses the hybrid cgroup layout, and podman's default rlimits are above
# what may be set without CAP_SYS_RESOURCE: the containers get this shell's open-files limit and
# 4,096 processes (plenty for npm and next build; this machine refuses its own nproc limit).
podman_flags=(--runtime runc)
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)

# base TAG PACKAGES: a Debian image with PACKAGES, made once per package list.
base() {
  local packages=$1 ref
  ref="localhost/keyportal-base:$suite-$(printf '%s' "$suite $packages" | sha256sum | cut -c1-12)"
  if ! podman "${podman_flags[@]}" image exists "$ref"; then
    say "making $ref from Debian $suite ($packages)"
    local tar
    tar=$(mktemp --suffix=.tar)
    mmdebstrap --quiet --variant=essential --include="$packages" "$suite" "$tar" >&2 \
      || { rm -f "$tar"; fail "mmdebstrap" "could not make a $suite root with $packages"; }
    podman "${podman_flags[@]}" import --quiet "$tar" "$ref" >/dev/null \
      || { rm -f "$tar"; fail "podman import" "$tar"; }
    rm -f "$tar"
  fi
  echo "$ref"
}

runtime_base=$(base nodejs,ca-certificates)
build_base=$(base nodejs,npm,ca-certificates)

# This machine's registry traffic goes through a TLS-intercepting proxy: its CA reaches npm as a
# build secret, for the install step only, never in a layer.
secret=()
[ -s /etc/ssl/certs/ca-certificates.crt ] && secret=(--secret id=npm-ca,src=/etc/ssl/certs/ca-certificates.crt)

say "building $image"
start=$(date +%s)
podman "${podman_flags[@]}" build --network=host "${limits[@]}" "${secret[@]}" \
  --build-arg NODE_IMAGE="$build_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
  --tag "$image" . >&2 || fail "podman build" "see the output above"
size=$(podman "${podman_flags[@]}" image inspect --format '{{.Size}}' "$image")
say "built $image in $(($(date +%s) - start)) s, $((size / 1024 / 1024)) MiB"
echo "$image"
