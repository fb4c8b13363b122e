#!/usr/bin/env bash
# make containers-stop: stop what `make containers` started (the project's podman service and its
# containers); the image and storage stay in .containers/ for the next start. Nothing else is touched.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ -f "$state/service.pid" ] && command -v podman >/dev/null; then
	# Every container in the project's own storage: the bridge keeper and any SAM left behind.
	ids="$(podman ps -aq 2>/dev/null || true)"
	[ -z "$ids" ] || podman rm -f -t 2 $ids >/dev/null 2>&1 || true
	pid="$(cat "$state/service.pid")"
	if kill "$pid" 2>/dev/null; then
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f "$state/service.pid" "$socket" "$state/docker-host"
	say "stopped the podman service and the project's containers"
fi
