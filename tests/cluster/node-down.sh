#!/usr/bin/env bash
# Removes everything node-up.sh made, and checks that it is gone: the kubelet, kube-proxy,
# controller-manager, scheduler and containerd (by recorded pid, checked against the binary),
# every pod (through the CRI, so each pod's network namespace, veth and address lease go too),
# what is still mounted under the node's directory, the bridge, kube-proxy's nftables tables, the
# kubelet's links in /var/log/containers, the kernel tunables the kubelet changed and IPv4
# forwarding (back to what they were), and the directory itself. down.sh runs this first;
# node-up.sh runs it before a start and after a failed one.
#
# Best effort throughout (one stuck piece must not keep the rest from going), then a check:
# exits 1, naming what is left, if anything is. The directory is only deleted once nothing is
# mounted under it, so a stuck mount never makes rm reach into what it mounts.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${KEYPORTAL_CLUSTER_DIR:-$repo/.cluster}
[ -d "$state" ] || exit 0
state=$(cd "$state" && pwd -P)
node_dir="$state/node"
node_procs="kubelet kube-proxy kube-scheduler kube-controller-manager api-door cluster-dns containerd"
any=false
[ -d "$node_dir" ] && any=true
for p in $node_procs; do [ -f "$state/$p.pid" ] && any=true; done
$any || exit 0

say() { echo "cluster:down: node: $*" >&2; }

pid_of() { # pid_of NAME: the recorded pid, if it still runs the recorded binary
  local pidf="$state/$1.pid" pid exe
  [ -f "$pidf" ] || return 1
  read -r pid exe <"$pidf"
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && echo "$pid"
}

running() { # running PID: exists and is not a zombie (our daemons' parent is init, which may
  # take a while to reap them; a zombie holds nothing of ours)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

any_alive() { # any_alive PID...: at least one of them still runs
  local pid
  for pid in "$@"; do
    if running "$pid"; then return 0; fi
  done
  return 1
}

kill_and_wait() { # kill_and_wait PID...: TERM, up to 5 s, then KILL, up to 2 s
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 1 50); do
    any_alive "$@" || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
  for _ in $(seq 1 20); do
    any_alive "$@" || return 0
    sleep 0.1
  done
}

stop() { # stop NAME...: the recorded processes that are still ours, together
  local name pid pids=()
  for name in "$@"; do
    if pid=$(pid_of "$name"); then pids+=("$pid"); fi
  done
  if [ ${#pids[@]} -gt 0 ]; then kill_and_wait "${pids[@]}"; fi
  for name in "$@"; do rm -f "$state/$name.pid"; done
}

# The kubelet (so it stops restarting what we remove) and the control loops, before the pods.
stop kubelet kube-proxy kube-scheduler kube-controller-manager api-door cluster-dns
# The `kubernetes` Service's slice named the door; a cluster that stays up without the node
# must not keep pointing pods' traffic at it.
if [ -f "$state/kubeconfig" ] && [ -f "$node_dir/bin" ]; then
  timeout 15 "$(cat "$node_dir/bin")/kubectl" --kubeconfig "$state/kubeconfig" --request-timeout 10s \
    delete endpointslice kubernetes -n default --ignore-not-found >/dev/null 2>&1 || true
fi

# Pods outlive the kubelet (their shims are containerd's children, not its). Remove them
# through the CRI while containerd still runs, which tears down their networking properly.
sock="$node_dir/containerd/containerd.sock"
if pid_of containerd >/dev/null && [ -f "$node_dir/bin" ] && [ -x "$(cat "$node_dir/bin")/cri-reset" ]; then
  "$(cat "$node_dir/bin")/cri-reset" -endpoint "unix://$sock" -timeout 60s 2>&1 | sed 's/^/cluster:down: node: /' >&2 ||
    say "cri-reset failed; leftovers are killed and unmounted below"
fi
stop containerd

# If containerd died before that (or cri-reset could not finish), containers still run with no
# one to stop them. Our containers are the ones in our runc root (its state names them and their
# processes); containerd's task directories name them too, in case runc's state is gone.
runc_root="$node_dir/containerd/runc/k8s.io"
our_containers() {
  local d
  for d in "$runc_root"/*/ "$node_dir"/containerd/state/io.containerd.runtime.v2.task/k8s.io/*/; do
    if [ -d "$d" ]; then basename "$d"; fi
  done | sort -u
}
mapfile -t containers < <(our_containers)
# What is left of a shim serving our containerd (it names our socket) goes first, so it does
# not restart what runc removes.
shim_pids() {
  local d
  for d in /proc/[0-9]*; do
    case "$(readlink "$d/exe" 2>/dev/null)" in
      */containerd-shim-runc-v2)
        if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -F -- "-address $sock " >/dev/null; then echo "${d#/proc/}"; fi ;;
    esac
  done
}
mapfile -t left < <(shim_pids)
if [ ${#left[@]} -gt 0 ]; then
  say "killing leftover shims ${left[*]}"
  kill_and_wait "${left[@]}"
fi
# runc delete --force kills a container's processes and removes its cgroups.
for id in "${containers[@]}"; do
  if [ -d "$runc_root/$id" ]; then timeout 10 runc --root "$runc_root" delete --force "$id" >/dev/null 2>&1 || true; fi
done
# Processes still in one of our containers' cgroups (containerd puts each in /k8s.io/ID, ID a
# random 64-hex name that is ours alone), killed by pid.
container_pids() {
  local d id cg
  [ ${#containers[@]} -gt 0 ] || return 0
  for d in /proc/[0-9]*; do
    cg=$(grep -m1 -E '^[0-9]+:(pids|name=systemd|):' "$d/cgroup" 2>/dev/null) || continue
    id=${cg##*/k8s.io/}
    [ "$id" != "$cg" ] || continue
    if printf '%s\n' "${containers[@]}" | grep -xF -- "${id%%/*}" >/dev/null; then
      if running "${d#/proc/}"; then echo "${d#/proc/}"; fi
    fi
  done
}
mapfile -t left < <(container_pids)
if [ ${#left[@]} -gt 0 ]; then
  say "killing leftover container processes ${left[*]}"
  kill_and_wait "${left[@]}"
fi
# And their cgroups, then the /k8s.io parent if containerd made it for us and it is empty.
for id in "${containers[@]}"; do
  for cg in /sys/fs/cgroup/*/k8s.io/"$id" /sys/fs/cgroup/k8s.io/"$id"; do
    if [ -d "$cg" ]; then rmdir "$cg" 2>/dev/null || true; fi
  done
done
if [ ! -f "$node_dir/cgroup-k8s.io.existed" ]; then
  for cg in /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/k8s.io; do
    if [ -d "$cg" ]; then rmdir "$cg" 2>/dev/null || true; fi
  done
fi

# Mounts under our directory (sandbox shm, container rootfs, netns, the kubelet's volume tmpfs),
# deepest first. findmnt escapes odd characters as \xNN; printf %b turns them back.
mounts_under() {
  findmnt -rn -o TARGET | while read -r m; do
    m=$(printf '%b' "$m")
    case "$m" in "$node_dir"/*) echo "$m" ;; esac
  done | sort -r
}
for _ in 1 2 3; do
  mapfile -t mounts < <(mounts_under)
  [ ${#mounts[@]} -eq 0 ] && break
  for m in "${mounts[@]}"; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
done

if [ -f "$node_dir/bridge" ]; then
  bridge=$(cat "$node_dir/bridge")
  if ip link show "$bridge" >/dev/null 2>&1; then
    ip link delete "$bridge" 2>/dev/null || say "could not delete bridge $bridge"
  fi
fi

# The bridge plugin turned forwarding on for its gateway; turn it off again only if it was off
# before the node started.
if [ "$(cat "$node_dir/ip_forward.before" 2>/dev/null)" = 0 ] && [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ]; then
  echo 0 >/proc/sys/net/ipv4/ip_forward || say "could not turn IPv4 forwarding back off"
fi

# The kubelet's links to our pods' logs, and the directory if we were the ones to make it.
if [ -d /var/log/containers ]; then
  for l in /var/log/containers/*; do
    [ -L "$l" ] || continue
    case "$(readlink "$l")" in "$node_dir"/*) rm -f "$l" ;; esac
  done
  [ -f "$node_dir/var-log-containers.existed" ] || rmdir /var/log/containers 2>/dev/null || true
fi

# kube-proxy's nftables tables (it leaves them when stopped), if it was ours that made them.
if [ -f "$node_dir/kube-proxy.tables" ]; then
  for family in ip ip6; do
    if nft list table "$family" kube-proxy >/dev/null 2>&1; then
      nft delete table "$family" kube-proxy || say "could not delete nftables table $family kube-proxy"
    fi
  done
fi

# The kernel tunables the kubelet changed, back to what they were.
if [ -f "$node_dir/sysctl.before" ]; then
  while read -r key value; do
    f="/proc/sys/${key//.//}"
    [ "$(cat "$f")" = "$value" ] || echo "$value" >"$f" || say "could not restore $key to $value"
  done <"$node_dir/sysctl.before"
fi

# The shims' socket directory, if containerd made it for us and no one else's shim uses it.
if [ ! -f "$node_dir/run-containerd.existed" ] && [ -d /run/containerd ]; then
  rmdir /run/containerd/s 2>/dev/null || true
  rmdir /run/containerd 2>/dev/null || true
fi

# The check: nothing of ours may be left.
problems=()
for p in $node_procs; do
  pid=$(pid_of "$p") && problems+=("$p still runs (pid $pid)")
done
mapfile -t left < <(shim_pids; container_pids)
[ ${#left[@]} -eq 0 ] || problems+=("processes still inside our containers: ${left[*]}")
for id in "${containers[@]}"; do
  for cg in /sys/fs/cgroup/*/k8s.io/"$id" /sys/fs/cgroup/k8s.io/"$id"; do
    if [ -d "$cg" ]; then problems+=("cgroup $cg"); fi
  done
done
mapfile -t mounts < <(mounts_under)
[ ${#mounts[@]} -eq 0 ] || problems+=("still mounted: ${mounts[*]}")
if [ -n "${bridge:-}" ] && ip link show "$bridge" >/dev/null 2>&1; then problems+=("bridge $bridge still exists"); fi
if [ -f "$node_dir/kube-proxy.tables" ]; then
  for family in ip ip6; do
    if nft list table "$family" kube-proxy >/dev/null 2>&1; then problems+=("nftables table $family kube-proxy"); fi
  done
fi
if [ ${#problems[@]} -gt 0 ]; then
  for p in "${problems[@]}"; do say "left behind: $p"; done
  say "kept $node_dir so nothing under a mount is deleted"
  exit 1
fi
rm -rf --one-file-system "$node_dir"
say "removed"
