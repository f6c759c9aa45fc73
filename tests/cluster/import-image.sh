#!/usr/bin/env bash
# Imports a container image into the test node's containerd, where the kubelet finds it: nothing
# can be pulled on these machines, so a pod's image must be there already (give it
# imagePullPolicy: Never or IfNotPresent).
#
#   import-image.sh IMAGE             a podman image, e.g. localhost/keyportal:dev
#   import-image.sh --archive FILE    an OCI archive already saved (podman save --format oci-archive)
#
# The node is the one recorded in $KEYPORTAL_CLUSTER_DIR (default .cluster/ in the checkout),
# started with `npm run cluster:up -- --with-node`. Prints the imported image's name.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${KEYPORTAL_CLUSTER_DIR:-$repo/.cluster}
sock="$state/node/containerd/containerd.sock"

fail() { echo "cluster:import-image: step '$1' failed: $2" >&2; exit 1; }

case "${1:-}" in
  --archive) [ $# -eq 2 ] || fail "read arguments" "usage: import-image.sh IMAGE | --archive FILE"; archive=$2; image="" ;;
  "" | -*) fail "read arguments" "usage: import-image.sh IMAGE | --archive FILE" ;;
  *) [ $# -eq 1 ] || fail "read arguments" "usage: import-image.sh IMAGE | --archive FILE"; image=$1; archive="" ;;
esac
[ -S "$sock" ] || fail "find the node" "no containerd socket at $sock: start the cluster with --with-node"

if [ -n "$image" ]; then
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyportal-import.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  archive="$tmp/image.tar"
  podman save -q --format oci-archive -o "$archive" "$image" >&2 || fail "save $image" "podman save --format oci-archive $image"
fi
[ -f "$archive" ] || fail "find archive" "$archive does not exist"

# podman writes the full reference (localhost/NAME:TAG) into the archive's index, which ctr uses
# as the image's name. The import also unpacks it into the snapshotter the kubelet's pods use.
out=$(ctr --address "$sock" --namespace k8s.io images import "$archive" 2>&1) || {
  echo "$out" | tail -n 15 >&2
  fail "import into containerd" "ctr images import $archive"
}
# ctr prints "unpacking NAME (sha256:...)...done" per image it imported.
names=$(echo "$out" | sed -n 's/^unpacking \([^ ]*\) (.*/\1/p')
[ -n "$names" ] || { echo "$out" | tail -n 15 >&2; fail "import into containerd" "ctr imported no named image from $archive"; }
echo "$names"
