#!/usr/bin/env bash
# make localstack-demo: the post's demo on LocalStack, as one command. LocalStack up, the stack deployed,
# the stock seeded, then the five scenarios with the contract's lines (Started/Status/Output, Error/Cause),
# each order as stored in DynamoDB, the stock, and one execution's history as LocalStack recorded it.
# Stops what it started (LocalStack and the container engine), also on failure or Ctrl-C.
#
#   demo.sh MAKE URL
set -euo pipefail
make=$1 url=$2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$root/scripts/containers/common.sh"
saga() { "$root/.venv/bin/saga" "$@" --endpoint-url "$url"; }
step() { printf '\n== %s\n' "$*"; }

stop=()
curl -sf --max-time 2 "$url/_localstack/health" >/dev/null || stop+=(localstack-stop)
docker_answers || podman_answers || stop+=(containers-stop)
finish() { [ ${#stop[@]} -eq 0 ] || "$make" "${stop[@]}"; }
trap finish EXIT

begin=$SECONDS
step "LocalStack"
"$make" localstack
step "Deploy"
start=$SECONDS
"$make" localstack-deploy
deploy=$((SECONDS - start))
step "Seed"
saga seed
step "The five scenarios"
start=$SECONDS
saga run --all
scenarios=$((SECONDS - start))
step "Each order as stored"
names="$(saga list --limit 5 --json | "$root/.venv/bin/python" -c '
import json, sys
print(*reversed([json.loads(line)["name"] for line in sys.stdin]))')"
for name in $names; do saga describe "$name"; echo; done
step "Stock"
saga stock
step "History of the happy execution, from LocalStack"
saga history "${names%% *}"
printf '\nlocalstack-demo: deploy %s s, five scenarios %s s, all %s s\n' "$deploy" "$scenarios" "$((SECONDS - begin))"
