#!/usr/bin/env bash
# Stops exactly the processes cluster:up started (by pid file, checked against the binary it
# recorded, so a recycled pid is never killed) and removes the temporary data.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${KEYPORTAL_CLUSTER_DIR:-$repo/.cluster}
[ -d "$state" ] || exit 0

stop() {
  local pidf="$state/$1.pid"
  [ -f "$pidf" ] || return 0
  local pid exe
  read -r pid exe <"$pidf"
  if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do
      [ -d "/proc/$pid" ] || break
      sleep 0.1
    done
    [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$pidf"
}

# A node first (node-down.sh does nothing if there is none): its pods, mounts and bridge are
# removed through the processes it still has. If anything of it is left, the state dir stays, so
# that nothing under a stuck mount is deleted and the leftovers can be looked at.
keep_state=false
if [ -d "$state/node" ] || [ -f "$state/kubelet.pid" ] || [ -f "$state/containerd.pid" ]; then
  "$here/node-down.sh" || { echo "cluster:down: the node was not removed completely (see above); kept $state" >&2; keep_state=true; }
fi

# The API server first, so it does not log a storm of etcd errors on its way down.
stop kube-apiserver
stop etcd

if [ -f "$state/datadir" ]; then
  data=$(cat "$state/datadir")
  case "$data" in
    */keyportal-cluster.*) rm -rf "$data" ;;
  esac
fi
if $keep_state; then
  exit 1
fi
rm -rf "$state"
echo "cluster:down: stopped" >&2
