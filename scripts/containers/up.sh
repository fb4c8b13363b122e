#!/usr/bin/env bash
# make containers: a Docker-compatible engine for SAM, set up from the project's own files, idempotently.
#
# - A Docker engine answers: use it (SAM pulls AWS's real images; nothing is built).
# - Otherwise podman (with runc) from Debian's archive, configured under .containers/, serving the Docker
#   API on .containers/podman.sock; a stand-in for AWS's python3.12 x86_64 base image is built (once per
#   recipe: scripts/containers/lambda-image/); a small container keeps the project's bridge up, so that a
#   table endpoint can listen on its gateway address, the only host address a container reaches.
#
# Writes .containers/docker-host (the DOCKER_HOST for SAM), .containers/gateway (where containers reach
# the host) and .containers/sam-flags (extra `sam local` options). Needs PY312_DIR (the Python 3.12 of
# `make build`) to build the image.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
mkdir -p "$state"

if docker_answers; then
	host="${DOCKER_HOST:-unix:///var/run/docker.sock}"
	echo "$host" >"$state/docker-host"
	# Its default bridge's gateway: where containers reach the host (the table endpoint binds there).
	DOCKER_HOST="$host" docker_api /networks/bridge \
		| python3 -c 'import json, sys; print(json.load(sys.stdin)["IPAM"]["Config"][0]["Gateway"])' >"$state/gateway"
	echo "" >"$state/sam-flags"
	say "a Docker engine answers at $host: SAM pulls AWS's images through it"
	exit 0
fi

# podman, runc and debootstrap from Debian's archive (only what is missing; apt-get is idempotent anyway).
missing=()
for tool in podman runc debootstrap curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
	if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
		die "no Docker engine answers and ${missing[*]} cannot be installed here (needs apt-get as root): install Docker, or podman, runc and debootstrap"
	fi
	say "installing ${missing[*]} from Debian's archive"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >"$state/apt.log" 2>&1 \
		|| { tail -n 3 "$state/apt.log" >&2; die "apt-get install ${missing[*]} failed (see .containers/apt.log)"; }
fi

# Configuration: runc (crun fails on this kind of host's hybrid cgroups), cgroupfs, file events, rlimits
# below the host's hard limits (podman's defaults fail with "setrlimit ... Operation not permitted"),
# kernel overlay storage (vfs copies the whole image for every container).
cat >"$state/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$state/events.log"

[network]
network_config_dir = "$state/networks"
CONF
cat >"$state/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$state/storage"
runroot = "$state/run"
CONF
mkdir -p "$state/networks"

# The project's bridge network, created before the service starts (which then reads it): a subnet and a
# bridge named after this checkout (podman 4.3 has no --interface-name: set in its file), no DNS server.
if ! podman network exists "$network"; then
	podman network create --disable-dns --subnet "$subnet" "$network" >/dev/null
	sed -i "s/\"network_interface\": \"[^\"]*\"/\"network_interface\": \"$bridge\"/" "$state/networks/$network.json"
fi

if ! podman_answers; then
	rm -f "$socket"
	nohup podman system service --time 0 "unix://$socket" >"$state/service.log" 2>&1 &
	echo $! >"$state/service.pid"
	for _ in $(seq 50); do podman_answers && break; sleep 0.2; done
	podman_answers || die "podman system service did not answer on .containers/podman.sock (see .containers/service.log)"
	say "podman serves the Docker API on .containers/podman.sock (pid $(cat "$state/service.pid"))"
fi

# The stand-in base image, rebuilt only when its recipe (or the Python it copies) changes.
here="$(dirname "${BASH_SOURCE[0]}")"
[ -n "${PY312_DIR:-}" ] || die "needs Python 3.12 (the Lambda runtime) for the base image: install python3.12 (or pyenv install 3.12)"
recipe="$( (cat "$here"/lambda-image/*; "$PY312_DIR/python3.12" -VV) | sha256sum | cut -c1-16)"
current="$(podman image inspect "$base_image" --format '{{index .Labels "order-saga.recipe"}}' 2>/dev/null || true)"
if [ "$current" != "$recipe" ]; then
	say "building $base_image (a stand-in for AWS's image, recipe $recipe)"
	start=$SECONDS
	"$here/lambda-image/build.sh" podman "$PY312_DIR" "$base_image" "$recipe" "$state/image-build"
	podman image prune -f >/dev/null
	say "built $base_image in $((SECONDS - start)) s, $(podman image inspect "$base_image" --format '{{.Size}}' | numfmt --to=si)B"
fi

# The bridge, held up by a sleeping container: its gateway is where containers reach the host, and the
# bridge (with that address) exists only while a container is attached.
if [ "$(podman container inspect "$keeper" --format '{{.State.Running}}' 2>/dev/null)" != true ]; then
	podman rm -f "$keeper" >/dev/null 2>&1 || true
	podman run -d --name "$keeper" --network "$network" --entrypoint /bin/sleep "$base_image" infinity >/dev/null
fi
podman network inspect "$network" --format '{{range .Subnets}}{{.Gateway}}{{end}}' >"$state/gateway"
echo "unix://$socket" >"$state/docker-host"
echo "--skip-pull-image --docker-network $network" >"$state/sam-flags"
say "ready: DOCKER_HOST=unix://.containers/podman.sock, network $network (bridge $bridge), gateway $(cat "$state/gateway")"
