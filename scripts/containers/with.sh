#!/usr/bin/env bash
# Run a command with the project's container engine up (scripts/containers/up.sh), exporting DOCKER_HOST,
# SAGA_CONTAINER_GATEWAY and SAGA_SAM_FLAGS for it; if this call started the engine, stop it afterwards.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

started=0
if ! docker_answers && ! podman_answers; then started=1; fi
stop() {
	# SAM builds a new image over the base for every invoke of a function with a local layer: drop the old.
	! podman_answers || podman image prune -f >/dev/null 2>&1 || true
	[ "$started" = 0 ] || bash "$(dirname "${BASH_SOURCE[0]}")/down.sh"
}
trap stop EXIT
bash "$(dirname "${BASH_SOURCE[0]}")/up.sh"
DOCKER_HOST="$(cat "$state/docker-host")"
SAGA_CONTAINER_GATEWAY="$(cat "$state/gateway")"
SAGA_SAM_FLAGS="$(cat "$state/sam-flags")"
export DOCKER_HOST SAGA_CONTAINER_GATEWAY SAGA_SAM_FLAGS
"$@"
