#!/usr/bin/env bash
# Builds the test cluster's binaries (etcd, kube-apiserver, kubectl, helm) from the Go modules
# beside this script, into a cache outside the checkout keyed by what pins them: each module's
# go.mod, go.sum and sources, and the Go version. A build happens only when one of those changes.
#
# Prints the bin directory on stdout (last line). Fails loudly, naming the step: the tests never
# fall back to anything but these real binaries.
#
# With --with-node it also builds what a real node runs (module node/: kubelet,
# kube-controller-manager, kube-scheduler, kube-proxy, and our pause, cri-reset, hello, forward and cluster-dns
# commands) and the sandbox image made from pause, and prints a bin directory holding all of
# them. Without it, nothing about the plain build changes: same binaries, keys and bin directory.
set -euo pipefail

with_node=false
for arg in "$@"; do
  case "$arg" in
    --with-node) with_node=true ;;
    *) echo "cluster:build: unknown argument '$arg' (only --with-node)" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${KEYPORTAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keyportal}
export GOMODCACHE=${GOMODCACHE_OVERRIDE:-$cache_root/go-mod}
export GOCACHE=${GOCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/go-build}
export GOFLAGS=-mod=readonly
export CGO_ENABLED=0

fail() { echo "cluster:build: step '$1' failed: $2" >&2; exit 1; }

command -v go >/dev/null || fail "find go" "Go is not on PATH; the test cluster is built from source with it"
go_version=$(go env GOVERSION) || fail "read go version" "go env GOVERSION failed"

# Bump when the build command itself changes (flags), so old caches are not reused.
BUILD_RECIPE=2
# A module's key: its pins and sources, the compiler and the recipe. Sorted for stability.
module_key() {
  local dir=$1
  (cd "$dir" && { echo "$go_version $BUILD_RECIPE"; find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-16)
}

# build_module MODULE_DIR NAME LDFLAGS PACKAGE...: builds the packages into
# $cache_root/bin/NAME-KEY once.
build_module() {
  local dir=$1 name=$2 ldflags=$3; shift 3
  local key out
  key=$(module_key "$here/$dir")
  out="$cache_root/bin/$name-$key"
  if [ -f "$out/.complete" ]; then
    echo "$out"
    return
  fi
  echo "cluster:build: building $name ($key) into $out; a cold build takes several minutes" >&2
  local tmp="$out.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  (cd "$here/$dir" && go mod download) >&2 || fail "download $name modules" "go mod download in tests/cluster/$dir"
  (cd "$here/$dir" && go build -trimpath -ldflags="-s -w $ldflags" -o "$tmp/" "$@") >&2 || fail "build $name" "go build $* in tests/cluster/$dir"
  touch "$tmp/.complete"
  rm -rf "$out" && mv "$tmp" "$out"
  echo "$out"
}

# Stamp the pinned versions the way each project's own release build does, so `kubectl version`
# and helm's kubeVersion checks see v1.x.y rather than v0.0.0-master.
pinned() { (cd "$here/$1" && go list -m -f '{{.Version}}' "$2"); }
kube_version=$(pinned kube k8s.io/kubernetes) || fail "read kubernetes pin" "go list -m k8s.io/kubernetes"
helm_version=$(pinned helm helm.sh/helm/v3) || fail "read helm pin" "go list -m helm.sh/helm/v3"
kube_minor=$(echo "$kube_version" | cut -d. -f2)
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

# The sandbox image's name carries the node build's key, so a rebuilt pause is a new image.
pause_image_of() { echo "localhost/keyportal-pause:$(basename "$1")"; }
node_binaries="kubelet kube-controller-manager kube-scheduler kube-proxy pause cri-reset hello forward cluster-dns"
# build_node: the node's binaries (same release and version stamp as the API server: a kubelet
# newer or older than its API server is a different test) and the sandbox image, made from the
# pause binary with podman (FROM scratch, nothing to pull) and saved as an OCI archive that
# `ctr images import` takes. Prints the directory.
build_node() {
  local node_kube
  node_kube=$(pinned node k8s.io/kubernetes) || fail "read node's kubernetes pin" "go list -m k8s.io/kubernetes in tests/cluster/node"
  [ "$node_kube" = "$kube_version" ] ||
    fail "compare pins" "tests/cluster/node pins k8s.io/kubernetes $node_kube but tests/cluster/kube pins $kube_version; keep them equal"
  local dir
  dir=$(build_module node node "$kube_ldflags" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy ./cmd/pause ./cmd/cri-reset ./cmd/hello ./cmd/forward ./cmd/cluster-dns)
  local pause_image
  pause_image=$(pause_image_of "$dir")
  if [ ! -f "$dir/pause-image.tar" ]; then
    command -v podman >/dev/null || fail "find podman" "podman builds the node's pause image (apt-get install podman)"
    local ctx="$dir/pause-image.ctx.$$"
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp "$dir/pause" "$ctx/pause"
    printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Containerfile"
    # podman here needs runc and explicit rlimits (see TOOLCHAIN.md), even for a build with no RUN.
    podman build -q --runtime runc --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096 \
      -t "$pause_image" "$ctx" >/dev/null || fail "build pause image" "podman build of $pause_image"
    podman save -q --format oci-archive -o "$ctx/pause-image.tar" "$pause_image" >&2 ||
      fail "save pause image" "podman save $pause_image"
    # The archive is what the node uses; podman's own copy would only linger in its store.
    podman rmi -f "$pause_image" >/dev/null 2>&1 || true
    mv "$ctx/pause-image.tar" "$dir/pause-image.tar"
    rm -rf "$ctx"
  fi
  echo "$dir"
}

kube_dir=$(build_module kube kube "$kube_ldflags" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./cmd/etcd)
helm_dir=$(build_module helm helm "$helm_ldflags" helm.sh/helm/v3/cmd/helm)

# One directory of links per combination of pins, so callers need a single path and two
# checkouts with different pins never point at each other's binaries.
bin="$cache_root/bin/set-$(basename "$kube_dir")-$(basename "$helm_dir")"
if $with_node; then
  node_dir=$(build_node)
  pause_image=$(pause_image_of "$node_dir")
  bin+="-$(basename "$node_dir")"
fi
mkdir -p "$bin"
for b in kube-apiserver kubectl etcd; do
  [ -x "$kube_dir/$b" ] || fail "check $b" "$kube_dir/$b is missing after the build"
  ln -sfn "$kube_dir/$b" "$bin/$b"
done
[ -x "$helm_dir/helm" ] || fail "check helm" "$helm_dir/helm is missing after the build"
ln -sfn "$helm_dir/helm" "$bin/helm"
if $with_node; then
  for b in $node_binaries pause-image.tar; do
    [ -e "$node_dir/$b" ] || fail "check $b" "$node_dir/$b is missing after the build"
    ln -sfn "$node_dir/$b" "$bin/$b"
  done
  echo "$pause_image" >"$bin/pause-image.name.tmp.$$" && mv "$bin/pause-image.name.tmp.$$" "$bin/pause-image.name"
fi
echo "$bin"
