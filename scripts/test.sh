#!/usr/bin/env bash
# Runs every test: type check and lint, the unit and integration suites (vitest brings the real
# test cluster up itself, building its binaries on first use), then prints one summary line,
# `N passed, N failed`, as the last line, and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
rm -rf test-results && mkdir -p test-results
failed_checks=0

check() { # check NAME CMD...: a step with no report of its own counts as one test
  local name=$1
  echo "::: $name"
  shift
  "$@" || { echo "::: failed: $*" >&2; failed_checks=$((failed_checks + 1)); echo "$name" >> test-results/failed-checks.txt; }
}

runner() { # runner NAME REPORT CMD...: a test runner; it counts once only if it left no report
  local name=$1 report=$2
  shift 2
  echo "::: $name"
  "$@" || { [ -f "$report" ] || { echo "::: $name failed without a report" >&2; failed_checks=$((failed_checks + 1)); echo "$name (no report)" >> test-results/failed-checks.txt; }; }
}

# The cluster binaries are a prerequisite, not a test: if their build fails, say which step and stop.
echo "::: build the test cluster"
if ! bash tests/cluster/build.sh >/dev/null; then
  echo "0 passed, 1 failed"
  exit 1
fi
# One cluster for both runners: each finds it running, reuses it and leaves it to us.
started_cluster=0
if [ ! -f "${KEYPORTAL_CLUSTER_DIR:-.cluster}/kubeconfig" ]; then
  started_cluster=1
  bash tests/cluster/up.sh >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
trap '[ "$started_cluster" = 1 ] && bash tests/cluster/down.sh >/dev/null 2>&1' EXIT

# The image the chart runs (Dockerfile, podman, no daemon): built once here, then run as a pod by
# tests/integration/image.test.ts. A failed build is a failed check, and that test says so too.
echo "::: build the image"
if image=$(bash scripts/image.sh | tail -n 1) && [ -n "$image" ]; then
  export KEYPORTAL_TEST_IMAGE=$image
else
  echo "::: failed: npm run image" >&2
  failed_checks=$((failed_checks + 1))
  echo "npm run image" >> test-results/failed-checks.txt
  export KEYPORTAL_TEST_IMAGE_FAILED=1
fi

check "type check" npx tsc --noEmit
check "lint" npx eslint --max-warnings 0 .
runner "vitest" test-results/vitest.json \
  npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json
# The chart on a real node (kubelet, containerd, kube-proxy) from the image built above, in a
# cluster of its own that the suite brings up and removes (tests/setup/node-cluster.ts).
runner "vitest: the chart on a real node" test-results/vitest-node.json \
  npx vitest run --config vitest.node.config.ts --reporter=default --reporter=json --outputFile.json=test-results/vitest-node.json
# The browser tests run against the production build, as users get it.
rm -rf .next
if check "production build" npx next build; then
  runner "playwright" test-results/playwright.json npx playwright test
else
  echo "::: playwright skipped: no production build" >&2
fi

node scripts/summarize-tests.mjs test-results "$failed_checks"
