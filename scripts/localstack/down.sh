#!/usr/bin/env bash
# make localstack-stop: stop the LocalStack that make localstack started (by its pid), then the Lambda
# containers it may have left.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pidfile="$root/.localstack/localstack.pid"
[ -f "$pidfile" ] || exit 0
pid="$(cat "$pidfile")"
if kill "$pid" 2>/dev/null; then
	# Its shutdown can hang: wait 20 s, then end it.
	for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
	kill -9 "$pid" 2>/dev/null || true
fi
rm -f "$pidfile"
# The functions' containers it may have left (LocalStack names them localstack-main-lambda-...).
source "$root/scripts/containers/common.sh"
if podman_answers; then
	podman ps -aq --filter name=localstack-main-lambda- | xargs -r podman rm -f >/dev/null 2>&1 || true
fi
echo "localstack: stopped"
