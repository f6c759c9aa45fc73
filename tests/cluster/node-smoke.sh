#!/usr/bin/env bash
# Proves a node started with `cluster:up --with-node` really runs pods: builds a tiny image (our
# static `hello` binary, FROM scratch) with podman, imports it into the node's containerd, runs a
# 2-replica Deployment and a Service in a namespace of its own, and checks, each step bounded:
# pods Running and Ready (an HTTP readiness probe over the pod bridge), `kubectl logs`,
# `kubectl exec` (pod to pod, and pod to Service through kube-proxy), `kubectl port-forward`, and
# that the namespace is deleted again. Leaves the cluster running; prints "node smoke: ok".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${KEYPORTAL_CLUSTER_DIR:-$repo/.cluster}
kubeconfig="$state/kubeconfig"

fail() {
  echo "node smoke: step '$1' failed: $2" >&2
  if [ -n "${ns:-}" ]; then
    kubectl get pods -n "$ns" -o wide >&2 || true
    kubectl get events -n "$ns" --sort-by=.lastTimestamp 2>/dev/null | tail -n 10 >&2 || true
  fi
  [ -f "$state/kubelet.log" ] && { echo "--- last lines of $state/kubelet.log" >&2; tail -n 15 "$state/kubelet.log" >&2; }
  exit 1
}
ok() { echo "node smoke: $*" >&2; }

[ -f "$state/node/bin" ] || fail "find the node" "no node in $state: npm run cluster:up -- --with-node"
bin=$(cat "$state/node/bin")
kubectl() { timeout 60 "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

# --- the image: hello alone, as a non-root user; named after the node build so it is rebuilt with it
image="localhost/keyportal-node-hello:$(basename "$(dirname "$(readlink -f "$bin/hello")")")"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyportal-smoke.XXXXXX")
pf_pid=""
cleanup() {
  if [ -n "$pf_pid" ]; then kill "$pf_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
cp "$bin/hello" "$tmp/hello"
printf 'FROM scratch\nCOPY hello /hello\nUSER 10001:10001\nENTRYPOINT ["/hello"]\nCMD ["serve"]\n' >"$tmp/Containerfile"
podman build -q --runtime runc --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096 \
  -t "$image" "$tmp" >/dev/null || fail "build image" "podman build $image"
podman save -q --format oci-archive -o "$tmp/hello.tar" "$image" || fail "save image" "podman save $image"
podman rmi -f "$image" >/dev/null 2>&1 || true
"$here/import-image.sh" --archive "$tmp/hello.tar" >/dev/null || fail "import image" "import-image.sh --archive"
ok "image $image imported"

# --- a Deployment of two, and a Service
ns="node-smoke-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
kubectl create namespace "$ns" >/dev/null || fail "create namespace" "kubectl create namespace $ns"
kubectl apply -n "$ns" -f - >/dev/null <<EOF || fail "apply" "kubectl apply of the Deployment and Service"
apiVersion: apps/v1
kind: Deployment
metadata: { name: hello }
spec:
  replicas: 2
  selector: { matchLabels: { app: hello } }
  template:
    metadata: { labels: { app: hello } }
    spec:
      automountServiceAccountToken: false
      containers:
        - name: hello
          image: $image
          imagePullPolicy: Never
          ports: [{ containerPort: 8080 }]
          readinessProbe: { httpGet: { path: /ready, port: 8080 }, periodSeconds: 1 }
          securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true }
---
apiVersion: v1
kind: Service
metadata: { name: hello }
spec:
  selector: { app: hello }
  ports: [{ port: 80, targetPort: 8080 }]
EOF
# (The ServiceAccount admission needs the namespace's "default" account, made by the
# controller-manager a moment after the namespace; the ReplicaSet retries until it is there.)
kubectl rollout status -n "$ns" deployment/hello --timeout=90s >/dev/null || fail "rollout" "2 pods not Ready in 90 s"
mapfile -t pods < <(kubectl get pods -n "$ns" -l app=hello -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}')
[ ${#pods[@]} -eq 2 ] || fail "list pods" "expected 2 pods, got ${#pods[@]}"
ok "2 pods Running and Ready: $(kubectl get pods -n "$ns" -l app=hello -o 'jsonpath={range .items[*]}{.metadata.name}={.status.podIP} {end}')"

# --- logs: the server's start line and the kubelet's readiness probes
logs=$(kubectl logs -n "$ns" "${pods[0]}") || fail "kubectl logs" "kubectl logs ${pods[0]}"
grep -q 'listening on :8080' <<<"$logs" || fail "kubectl logs" "no 'listening on' line in: $logs"
grep -q 'GET /ready' <<<"$logs" || fail "kubectl logs" "no readiness probe in the log: $logs"
ok "kubectl logs shows the server and its probes"

# --- exec: from the first pod to the second (bridge), and to the Service (kube-proxy)
peer_ip=$(kubectl get pod -n "$ns" "${pods[1]}" -o 'jsonpath={.status.podIP}')
out=$(kubectl exec -n "$ns" "${pods[0]}" -- /hello get "http://$peer_ip:8080/from-peer") || fail "kubectl exec" "pod to pod GET failed"
[ "$out" = "hello from ${pods[1]}" ] || fail "kubectl exec" "pod to pod answered '$out'"
ok "kubectl exec: pod to pod over the bridge"
svc_ip=$(kubectl get service -n "$ns" hello -o 'jsonpath={.spec.clusterIP}')
# kube-proxy programs the Service a moment after its endpoints appear; until then it refuses.
for _ in $(seq 1 40); do
  kubectl exec -n "$ns" "${pods[0]}" -- /hello get "http://$svc_ip/wait" >/dev/null 2>&1 && break
  sleep 0.5
done
seen=""
for _ in $(seq 1 10); do
  out=$(kubectl exec -n "$ns" "${pods[0]}" -- /hello get "http://$svc_ip/via-service") || fail "kubectl exec" "GET of the Service $svc_ip failed"
  case "$out" in "hello from ${pods[0]}" | "hello from ${pods[1]}") seen+=" ${out#hello from }" ;;
    *) fail "kubectl exec" "the Service answered '$out'" ;; esac
done
ok "kubectl exec: the Service $svc_ip answered 10 times, from:$(tr ' ' '\n' <<<"$seen" | sort -u | tr '\n' ' ')"

# --- port-forward to a loopback port the kernel picks
kubectl port-forward -n "$ns" --address 127.0.0.1 "pod/${pods[1]}" :8080 >"$tmp/pf.log" 2>&1 &
pf_pid=$!
port=""
for _ in $(seq 1 50); do
  port=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) .*/\1/p' "$tmp/pf.log")
  [ -n "$port" ] && break
  kill -0 "$pf_pid" 2>/dev/null || fail "kubectl port-forward" "exited: $(cat "$tmp/pf.log")"
  sleep 0.2
done
[ -n "$port" ] || fail "kubectl port-forward" "no port after 10 s: $(cat "$tmp/pf.log")"
out=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/via-port-forward") || fail "kubectl port-forward" "curl 127.0.0.1:$port"
[ "$out" = "hello from ${pods[1]}" ] || fail "kubectl port-forward" "answered '$out'"
kill "$pf_pid" 2>/dev/null; wait "$pf_pid" 2>/dev/null || true; pf_pid=""
ok "kubectl port-forward 127.0.0.1:$port -> ${pods[1]}:8080"

# --- and away again: with a controller-manager, a namespace really finishes terminating
kubectl delete namespace "$ns" --wait=false >/dev/null || fail "delete namespace" "kubectl delete namespace $ns"
for _ in $(seq 1 120); do
  kubectl get namespace "$ns" >/dev/null 2>&1 || break
  sleep 0.5
done
! kubectl get namespace "$ns" >/dev/null 2>&1 || fail "delete namespace" "$ns still there after 60 s"
ok "namespace $ns deleted, its pods stopped"
echo "node smoke: ok" >&2
