#!/usr/bin/env bash
# Grows the running test cluster a real node, so pods really run: containerd (its own root,
# state and socket under the cluster's state dir), kube-controller-manager, kube-scheduler, a
# kubelet named "localhost" and kube-proxy. up.sh runs this after the API server is ready when
# asked with --with-node (or KEYPORTAL_CLUSTER_NODE=1), on a fresh or a reused cluster.
# If the node recorded in the state dir is already up and Ready, it is reused.
#
# Everything stays on this machine: the kubelet, its healthz and containerd's streaming server
# listen on 127.0.0.1; the controller-manager and scheduler serve nothing. Pods get addresses on
# a bridge of their own with no masquerading (they reach this machine, nothing beyond it), or
# use hostNetwork. down.sh (through node-down.sh) removes all of it.
#
# Traps found on these machines, and why each setting below is what it is, are in
# TOOLCHAIN.md ("A real node: kubelet + containerd here").
set -euo pipefail
# up.sh writes the kubeconfig under umask 077; the directories containerd and the kubelet make
# (a container's root among them) must be traversable by a pod's non-root user.
umask 022

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${KEYPORTAL_CLUSTER_DIR:-$repo/.cluster}
state=$(cd "$state" && pwd -P) # mounts are matched against this path: no symlinks in it
kubeconfig="$state/kubeconfig"
node_dir="$state/node"
node_name=localhost
# How long the node may take to register and turn Ready (it takes about 2 s here).
ready_timeout=${KEYPORTAL_NODE_READY_TIMEOUT:-120}

fail() {
  echo "cluster:up: node step '$1' failed: $2" >&2
  for log in containerd kube-controller-manager kube-scheduler kubelet kube-proxy; do
    [ -f "$state/$log.log" ] && { echo "--- last lines of $state/$log.log" >&2; tail -n 15 "$state/$log.log" >&2; }
  done
  "$here/node-down.sh" || true
  exit 1
}

alive() { # alive NAME: the process recorded in NAME.pid still runs the binary recorded there
  local pidf="$state/$1.pid"
  [ -f "$pidf" ] || return 1
  local pid exe
  read -r pid exe <"$pidf"
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]
}

start() { # start NAME BINARY ARGS...: detached, logged, pid recorded with its binary (as up.sh)
  local name=$1 binary=$2; shift 2
  setsid "$binary" "$@" >"$state/$name.log" 2>&1 </dev/null &
  echo "$! $(readlink -f "$binary")" >"$state/$name.pid"
}

if [ ! -f "$kubeconfig" ] || [ ! -f "$state/server" ]; then
  fail "find the cluster" "no kubeconfig in $state: run up.sh first"
fi
# The API server reaches the kubelet with the client certificate up.sh makes only with
# --with-node; one started without it could not read a pod's logs or exec into it.
[ -f "$state/pki/kubelet-client.crt" ] ||
  fail "check the API server" "this cluster was started without --with-node, so its API server has no kubelet client certificate: run cluster:down, then cluster:up --with-node"

# The node's binaries come with the rest of the cluster's, built once per pin set.
bin=$("$here/build.sh" --with-node | tail -n 1) || fail "build" "build.sh --with-node (see above)"
kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" --request-timeout 10s "$@"; }

node_ready() {
  [ "$(kubectl get node "$node_name" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

if alive containerd && alive kube-controller-manager && alive kube-scheduler && alive kubelet && alive kube-proxy && alive api-door &&
  node_ready; then
  echo "cluster:up: node $node_name already running" >&2
  exit 0
fi
# Whatever a half-started or dead node left behind goes first.
"$here/node-down.sh" >/dev/null 2>&1 || true

for tool in containerd ctr containerd-shim-runc-v2 runc ip nft findmnt openssl; do
  command -v "$tool" >/dev/null ||
    fail "find $tool" "the node needs Debian's containerd, runc, iproute2 and nftables (apt-get install containerd runc iproute2 nftables)"
done
cni_bin=/usr/lib/cni
for plugin in bridge host-local portmap loopback; do
  [ -x "$cni_bin/$plugin" ] || fail "find CNI $plugin" "$cni_bin/$plugin is missing (apt-get install containernetworking-plugins)"
done

mkdir -p "$node_dir"/{containerd/root,containerd/state,containerd/runc,containerd/opt,cni/net.d,cni/ipam,kubelet,pod-logs}
# node-down.sh finds cri-reset through this.
echo "$bin" >"$node_dir/bin"
sock="$node_dir/containerd/containerd.sock"
# A unix socket path must fit in 108 bytes; containerd's ttrpc socket adds ".ttrpc".
[ ${#sock} -le 100 ] || fail "place containerd's socket" "$sock is too long for a unix socket; use a shorter KEYPORTAL_CLUSTER_DIR"
pause_image=$(cat "$bin/pause-image.name")

# One bridge and /24 per state dir, named after it, so two checkouts' nodes never share one.
# 10.244.0.0/16 stays clear of the Service range (10.0.0.0/24) and podman's 10.88.0.0/16.
hash=$(printf '%s' "$state" | sha256sum | cut -c1-8)
bridge="kp$hash"
subnet="10.244.$((16#${hash:0:2})).0/24"
echo "$bridge" >"$node_dir/bridge"

# The bridge plugin turns on IPv4 forwarding for its gateway; node-down.sh turns it back off
# only if it was off before we started.
cat /proc/sys/net/ipv4/ip_forward >"$node_dir/ip_forward.before"
# The kubelet symlinks container logs into /var/log/containers (a path compiled into it);
# node-down.sh removes our links, and the directory too if it was not there before.
[ -d /var/log/containers ] && touch "$node_dir/var-log-containers.existed"
# containerd's shims put their sockets in /run/containerd/s whatever its state dir; the same.
[ -d /run/containerd ] && touch "$node_dir/run-containerd.existed"
# containerd puts each container in the cgroup /k8s.io/ID (the kubelet gives no parent when
# cgroupsPerQOS is off); the same for /k8s.io.
if compgen -G '/sys/fs/cgroup/*/k8s.io' >/dev/null || [ -d /sys/fs/cgroup/k8s.io ]; then
  touch "$node_dir/cgroup-k8s.io.existed"
fi
# The kubelet sets six kernel tunables to its liking at start (there is no setting to only warn;
# protectKernelDefaults makes it refuse to start instead), among them kernel.panic_on_oops=1:
# node-down.sh puts back what was there before.
for key in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
  echo "$key $(cat "/proc/sys/${key//.//}")"
done >"$node_dir/sysctl.before"
# kube-proxy's nftables tables have fixed names ("kube-proxy" in the ip and ip6 families), so
# one machine can hold one such node at a time.
if nft list table ip kube-proxy >/dev/null 2>&1; then
  fail "check for another kube-proxy" "nftables table 'ip kube-proxy' exists: another node (another KEYPORTAL_CLUSTER_DIR?) runs here; bring it down first"
fi

# Free loopback ports for the kubelet's API and healthz and kube-proxy's healthz and metrics
# (kube-proxy takes no port 0), chosen by the kernel.
read -r kubelet_port healthz_port proxy_healthz_port proxy_metrics_port < <(node -e '
  const net = require("node:net");
  const one = () => new Promise((res) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); }); });
  Promise.all([one(), one(), one(), one()]).then((p) => console.log(p.join(" ")));
') || fail "pick ports" "node could not open a loopback socket"

# The kubelet needs a node IP that is not loopback (with 127.0.0.1 the node reports no address
# and logs/exec/port-forward fail). It is only a label here: the API server reaches the kubelet
# by the node's name, localhost, so nothing listens on this address.
node_ip=$(ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')
[ -n "$node_ip" ] || fail "find node IP" "no global IPv4 address on this machine (ip -4 addr)"

# The kubelet's serving certificate, from the cluster's CA, for the name the API server dials.
pki="$state/pki"
{
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$node_name" \
    -keyout "$node_dir/kubelet/serving.key" -out "$node_dir/kubelet/serving.csr"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$node_dir/kubelet/serving-ext.cnf"
  openssl x509 -req -in "$node_dir/kubelet/serving.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -extfile "$node_dir/kubelet/serving-ext.cnf" -out "$node_dir/kubelet/serving.crt"
} >"$node_dir/openssl.log" 2>&1 || fail "make kubelet certificate" "openssl (see $node_dir/openssl.log)"

# --- containerd
# Only what differs from containerd's defaults. restrict_oom_score_adj: lowering a sandbox's
# oom_score_adj needs CAP_SYS_RESOURCE, which these machines lack (every sandbox fails with
# "can't get final child's PID from pipe: EOF" without it). netns_mounts_under_state_dir and the
# runc Root keep network namespaces and runc's state in our directory rather than /run.
# The CNI conf_dir is ours too, so containerd never picks up podman's conflist in /etc/cni/net.d.
cat >"$node_dir/containerd/config.toml" <<EOF
version = 2
root = "$node_dir/containerd/root"
state = "$node_dir/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$node_dir/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$node_dir/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$node_dir/containerd/runc"
        SystemdCgroup = false
EOF

# Pod networking: a bridge of our own with host-local addresses. No ipMasq: pods reach this
# machine (the bridge is their gateway) and each other, but nothing beyond it. portmap lets a
# pod's hostPort work, on this machine only.
cat >"$node_dir/cni/net.d/10-keyportal.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "keyportal-$hash",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$subnet" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$node_dir/cni/ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF

# The bridge is made here rather than by the CNI plugin at the first pod, so its gateway address
# exists for the API server's door below before any pod does (the plugin adopts it as it is).
gateway_ip="${subnet%.0/24}.1"
ip link add "$bridge" type bridge >/dev/null 2>&1 || ip link show "$bridge" >/dev/null 2>&1 || fail "make bridge" "ip link add $bridge type bridge"
ip addr replace "$gateway_ip/24" dev "$bridge" || fail "address bridge" "ip addr add $gateway_ip/24 dev $bridge"
ip link set "$bridge" up || fail "bring bridge up" "ip link set $bridge up"
echo "$gateway_ip" >"$node_dir/gateway-ip"

start containerd "$(command -v containerd)" --config "$node_dir/containerd/config.toml"
ctr() { timeout 30 ctr --address "$sock" --namespace k8s.io "$@"; }
for _ in $(seq 1 100); do
  ctr version >/dev/null 2>&1 && break
  alive containerd || fail "start containerd" "containerd exited (see containerd.log)"
  sleep 0.1
done
ctr version >/dev/null 2>&1 || fail "start containerd" "no answer on $sock after 10 s"

# No registry can be reached: the sandbox image comes from the archive build.sh made.
"$here/import-image.sh" --archive "$bin/pause-image.tar" >/dev/null || fail "import pause image" "import of $bin/pause-image.tar"
# grep without -q reads the whole listing: with pipefail, -q quitting at the first match can kill
# ctr with SIGPIPE while it still writes, and the pipeline fails though the image is there.
ctr images ls -q | grep -xF "$pause_image" >/dev/null || fail "import pause image" "$pause_image not in containerd after the import"

# --- kube-controller-manager and kube-scheduler
# Node IPAM and node lifecycle are off: the bridge hands out addresses itself, and the lifecycle
# controller would only taint and evict. The rest (ServiceAccounts and their tokens, Deployments,
# ReplicaSets, namespaces, garbage collection...) is what a chart needs to really run.
start kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig "$kubeconfig" \
  --controllers '*,-nodeipam,-nodelifecycle' \
  --service-account-private-key-file "$state/pki/sa.key" \
  --root-ca-file "$state/pki/ca.crt" \
  --cluster-signing-cert-file "$state/pki/ca.crt" --cluster-signing-key-file "$state/pki/ca.key" \
  --use-service-account-credentials=false \
  --leader-elect=false \
  --bind-address 127.0.0.1 --secure-port 0 \
  --profiling=false
start kube-scheduler "$bin/kube-scheduler" \
  --kubeconfig "$kubeconfig" \
  --leader-elect=false \
  --bind-address 127.0.0.1 --secure-port 0 \
  --profiling=false

# --- cluster DNS, so a pod finds a Service by its name as in any cluster: our cmd/cluster-dns on
# the bridge's gateway address (the kubelet names it in each pod's resolv.conf). It answers for
# *.svc.cluster.local only and forwards nothing: nothing beyond this machine is reachable.
start cluster-dns "$bin/cluster-dns" -listen "$gateway_ip:53" -kubeconfig "$kubeconfig"

# --- kubelet
# cgroupfs, no QoS cgroups, no node-allocatable enforcement, cgroup v1 allowed: the cgroup layout
# here is hybrid v1. No swap check, no local-storage isolation. evictionHard {} and
# imageGCHighThresholdPercent 100: a full-ish disk must neither evict the test's pods nor delete
# images that cannot be pulled again. makeIPTablesUtilChains false: otherwise it adds chains of
# its own and a DROP rule to this machine's iptables INPUT and OUTPUT. Callers must show a
# certificate from the cluster's CA (the API server's kubelet client certificate); anonymous and
# webhook auth are off, and whoever passes may do anything (AlwaysAllow): the API server is the
# only caller, over loopback.
cat >"$node_dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kubelet_port
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
readOnlyPort: 0
tlsCertFile: $node_dir/kubelet/serving.crt
tlsPrivateKeyFile: $node_dir/kubelet/serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: $pki/ca.crt }
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://$sock
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
failCgroupV1: false
localStorageCapacityIsolation: false
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
makeIPTablesUtilChains: false
clusterDNS: [$gateway_ip]
clusterDomain: cluster.local
podLogsDir: $node_dir/pod-logs
serializeImagePulls: false
EOF
start kubelet "$bin/kubelet" \
  --config "$node_dir/kubelet/config.yaml" \
  --kubeconfig "$kubeconfig" \
  --root-dir "$node_dir/kubelet" \
  --hostname-override "$node_name" \
  --node-ip "$node_ip"

# --- kube-proxy, so Services (ClusterIP) reach the pods: nftables mode, in tables of its own that
# node-down.sh deletes. NodePorts only on loopback, conntrack sysctls left as they are.
cat >"$node_dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection:
  kubeconfig: $kubeconfig
hostnameOverride: $node_name
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$proxy_healthz_port
metricsBindAddress: 127.0.0.1:$proxy_metrics_port
clusterCIDR: 10.244.0.0/16
nodePortAddresses: [127.0.0.1/32]
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
touch "$node_dir/kube-proxy.tables"
start kube-proxy "$bin/kube-proxy" --config "$node_dir/kube-proxy.yaml"

# --- the API server, for pods. It listens on loopback only, which a pod cannot reach, so a door
# on the bridge's gateway address (the machine's own, on the pods' side) passes connections
# through to it, TLS untouched, and the `kubernetes` Service's EndpointSlice names that door:
# pods dial 10.0.0.1:443 as in any cluster (its certificate names 10.0.0.1), kube-proxy sends
# them to the door. The API server's own endpoint reconciler stays off (it refuses a loopback
# advertise address), so the slice is ours, and node-down.sh deletes it.
api_port=$(sed -E 's|.*:([0-9]+)/?$|\1|' "$state/server")
start api-door "$bin/forward" -listen "$gateway_ip:$api_port" -to "127.0.0.1:$api_port"
kubectl apply -f - >/dev/null <<EOF || fail "point the kubernetes Service at the door" "kubectl apply of EndpointSlice default/kubernetes"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels:
    kubernetes.io/service-name: kubernetes
    endpointslice.kubernetes.io/managed-by: keyportal-test-node
addressType: IPv4
endpoints:
- addresses: ["$gateway_ip"]
  conditions: { ready: true }
ports:
- name: https
  port: $api_port
  protocol: TCP
EOF

deadline=$((SECONDS + ready_timeout))
until node_ready; do
  for p in containerd kube-controller-manager kube-scheduler kubelet kube-proxy api-door cluster-dns; do
    alive "$p" || fail "start $p" "$p exited (see $p.log)"
  done
  [ $SECONDS -lt $deadline ] || fail "wait for node Ready" "node $node_name not Ready after $ready_timeout s"
  sleep 0.5
done

# The node registered with the not-ready taint, and the lifecycle controller that would lift it
# is off. Removing an absent taint fails, so only remove one that is there.
if kubectl get node "$node_name" -o 'jsonpath={.spec.taints[*].key}' | grep -w node.kubernetes.io/not-ready >/dev/null; then
  kubectl taint node "$node_name" node.kubernetes.io/not-ready:NoSchedule- >/dev/null ||
    fail "remove not-ready taint" "kubectl taint node $node_name"
fi

# kube-proxy says healthy once it has written its first rules.
for _ in $(seq 1 60); do
  curl -fsS --max-time 1 "http://127.0.0.1:$proxy_healthz_port/healthz" >/dev/null 2>&1 && break
  alive kube-proxy || fail "start kube-proxy" "kube-proxy exited (see kube-proxy.log)"
  sleep 0.5
done
curl -fsS --max-time 1 "http://127.0.0.1:$proxy_healthz_port/healthz" >/dev/null 2>&1 ||
  fail "wait for kube-proxy" "kube-proxy not healthy after 30 s"

# Pods in "default" need its ServiceAccount, which the controller-manager makes: wait for it so
# a `kubectl run` right after this does not fail.
for _ in $(seq 1 60); do
  kubectl get serviceaccount default -n default >/dev/null 2>&1 && break
  sleep 0.5
done
kubectl get serviceaccount default -n default >/dev/null 2>&1 ||
  fail "wait for default ServiceAccount" "kube-controller-manager made none in 30 s"

echo "cluster:up: node $node_name Ready (containerd $sock, bridge $bridge $subnet)" >&2
