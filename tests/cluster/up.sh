#!/usr/bin/env bash
# Starts the test cluster: etcd and kube-apiserver on 127.0.0.1 (no kubelet, no nodes), the way
# controller-runtime's envtest does. Serving cert from a throwaway CA, a service-account signing
# key pair, a static admin token in system:masters, RBAC authorization, loopback only.
#
# Writes an admin kubeconfig to $KEYPORTAL_CLUSTER_DIR/kubeconfig (default .cluster/ in the
# checkout) and prints its path on the last line. If the cluster recorded there is already
# running and ready, it is reused.
#
# With --with-node (or KEYPORTAL_CLUSTER_NODE=1) the cluster also gets a real node, so pods
# really run: node-up.sh, after the API server is ready (on a reused cluster too).
set -euo pipefail

with_node=false
[ "${KEYPORTAL_CLUSTER_NODE:-0}" = 1 ] && with_node=true
for arg in "$@"; do
  case "$arg" in
    --with-node) with_node=true ;;
    *) echo "cluster:up: unknown argument '$arg' (only --with-node)" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${KEYPORTAL_CLUSTER_DIR:-$repo/.cluster}
mkdir -p "$state"
kubeconfig="$state/kubeconfig"

fail() {
  echo "cluster:up: step '$1' failed: $2" >&2
  for log in "$state/etcd.log" "$state/kube-apiserver.log"; do
    [ -f "$log" ] && { echo "--- last lines of $log" >&2; tail -n 15 "$log" >&2; }
  done
  "$here/down.sh" >/dev/null 2>&1 || true
  exit 1
}

# alive NAME: the process recorded in NAME.pid still runs the binary recorded there.
alive() {
  local pidf="$state/$1.pid"
  [ -f "$pidf" ] || return 1
  local pid exe
  read -r pid exe <"$pidf"
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]
}

ready() {
  [ -f "$state/server" ] || return 1
  curl -fsS --max-time 2 --cacert "$state/pki/ca.crt" -H "Authorization: Bearer $(cat "$state/token")" \
    "$(cat "$state/server")/readyz" >/dev/null 2>&1
}

if alive etcd && alive kube-apiserver && ready && [ -f "$kubeconfig" ]; then
  echo "cluster:up: already running at $(cat "$state/server")" >&2
  # Others may be using this control plane: if the node fails to start, node-up.sh removes the
  # node alone and the control plane keeps running.
  if $with_node; then "$here/node-up.sh" || { echo "cluster:up: step 'start node' failed (see above)" >&2; exit 1; }; fi
  echo "$kubeconfig"
  exit 0
fi
"$here/down.sh" >/dev/null 2>&1 || true
mkdir -p "$state"

build_args=()
$with_node && build_args=(--with-node)
bin=$("$here/build.sh" "${build_args[@]}" | tail -n 1) || { echo "cluster:up: step 'build' failed (see above)" >&2; exit 1; }
echo "$bin" >"$state/bin"

data=$(mktemp -d "${TMPDIR:-/tmp}/keyportal-cluster.XXXXXX")
echo "$data" >"$state/datadir"
pki="$state/pki"
mkdir -p "$pki"

# Three free loopback ports, chosen by the kernel.
read -r etcd_port peer_port api_port < <(node -e '
  const net = require("node:net");
  const one = () => new Promise((res) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); }); });
  Promise.all([one(), one(), one()]).then((p) => console.log(p.join(" ")));
') || fail "pick ports" "node could not open a loopback socket"

{
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=keyportal-test-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr"
  # 10.0.0.1 and the kubernetes.default names: what a pod on the optional node dials (the
  # `kubernetes` Service, through node-up.sh's door); loopback: what everything else dials.
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' >"$pki/ext.cnf"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -extfile "$pki/ext.cnf" -out "$pki/apiserver.crt"
  openssl genrsa -out "$pki/sa.key" 2048
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
} >"$state/openssl.log" 2>&1 || fail "make certificates" "openssl (see openssl.log)"

# With a node, the API server calls its kubelet (logs, exec, port-forward) with a client
# certificate from our CA, which the kubelet requires (node-up.sh; anonymous access stays off),
# and checks the kubelet's serving certificate against the same CA.
kubelet_flags=()
if $with_node; then
  {
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
      -keyout "$pki/kubelet-client.key" -out "$pki/kubelet-client.csr"
    printf 'extendedKeyUsage=clientAuth\n' >"$pki/client-ext.cnf"
    openssl x509 -req -in "$pki/kubelet-client.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
      -days 2 -extfile "$pki/client-ext.cnf" -out "$pki/kubelet-client.crt"
  } >>"$state/openssl.log" 2>&1 || fail "make kubelet client certificate" "openssl (see openssl.log)"
  kubelet_flags=(--kubelet-client-certificate "$pki/kubelet-client.crt" --kubelet-client-key "$pki/kubelet-client.key"
    --kubelet-certificate-authority "$pki/ca.crt")
fi

token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
umask 077
echo "$token" >"$state/token"
printf '%s,keyportal-admin,keyportal-admin,"system:masters"\n' "$token" >"$pki/tokens.csv"
umask 022

start() { # start NAME ARGS...: detached, logged, pid recorded with its binary
  local name=$1; shift
  setsid "$bin/$name" "$@" >"$state/$name.log" 2>&1 </dev/null &
  echo "$! $(readlink -f "$bin/$name")" >"$state/$name.pid"
}

start etcd --data-dir "$data/etcd" \
  --listen-client-url "http://127.0.0.1:$etcd_port" --listen-peer-url "http://127.0.0.1:$peer_port"
for _ in $(seq 1 100); do
  curl -fsS --max-time 1 "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 && break
  alive etcd || fail "start etcd" "etcd exited (see etcd.log)"
  sleep 0.1
done
curl -fsS --max-time 1 "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 || fail "start etcd" "no health after 10 s"

server="https://127.0.0.1:$api_port"
echo "$server" >"$state/server"
start kube-apiserver \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --cert-dir "$data/certs" \
  --token-auth-file "$pki/tokens.csv" \
  --authorization-mode RBAC \
  --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range 10.0.0.0/24 \
  --endpoint-reconciler-type none \
  "${kubelet_flags[@]}" \
  --profiling="${KEYPORTAL_CLUSTER_PROFILING:-false}"

# KEYPORTAL_CLUSTER_PROFILING=true serves /debug/pprof for finding where the API server's CPU
# goes (docs/BENCHMARKS.md); off otherwise, as on a hardened cluster.
# (No endpoint reconciler: it refuses a loopback advertise address, and no Service needs it.)
# Readiness: RBAC's bootstrap roles and the default namespaces are in place once /readyz says so.
deadline=$((SECONDS + 90))
until ready; do
  alive kube-apiserver || fail "start kube-apiserver" "kube-apiserver exited (see kube-apiserver.log)"
  [ $SECONDS -lt $deadline ] || fail "wait for /readyz" "kube-apiserver not ready after 90 s"
  sleep 0.2
done

umask 077
cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: keyportal-test
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: keyportal-admin
  user:
    token: $token
contexts:
- name: keyportal-test
  context:
    cluster: keyportal-test
    user: keyportal-admin
current-context: keyportal-test
EOF
if $with_node; then
  "$here/node-up.sh" || fail "start node" "node-up.sh (see above)"
fi
echo "cluster:up: ready at $server; kubeconfig $kubeconfig; binaries in $bin" >&2
echo "$kubeconfig"
