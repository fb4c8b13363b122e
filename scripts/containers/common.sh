# Sourced by the container scripts: where the project keeps its container engine's files (.containers/).
# Everything podman stores or configures for this project lives there, so nothing outside is touched.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
state="$root/.containers"
socket="$state/podman.sock"
export CONTAINERS_CONF="$state/containers.conf"
export CONTAINERS_STORAGE_CONF="$state/storage.conf"
# SAM looks the base image up by this name (--skip-pull-image uses a local image of that name).
base_image="public.ecr.aws/lambda/python:3.12-x86_64"
# What the host LocalStack runs python3.12 functions on: the base image with the built layer at /opt
# (scripts/localstack/layer-image.sh).
layer_image="localhost/order-saga-localstack-runtime:python3.12"
# A container that keeps the project's bridge (and the gateway address the table endpoint binds to) up.
keeper="order-saga-bridge"
network="order-saga"
# Its bridge and subnet are named after this checkout, so two clones' engines can run side by side.
tag="$(printf %s "$root" | sha256sum | cut -c1-6)"
bridge="osaga$tag"
subnet="10.89.$((16#${tag:0:2} % 250 + 1)).0/24"

say() { echo "containers: $*"; }
die() { echo "containers: $*" >&2; exit 1; }

# GET a path of the Docker API at DOCKER_HOST (or the default socket).
docker_api() {
	local host="${DOCKER_HOST:-unix:///var/run/docker.sock}"
	case "$host" in
	unix://*) curl -sf --max-time 3 --unix-socket "${host#unix://}" "http://docker$1" 2>/dev/null ;;
	tcp://*) curl -sf --max-time 3 "http://${host#tcp://}$1" 2>/dev/null ;;
	*) return 1 ;;
	esac
}

# A Docker engine answers: SAM pulls AWS's own images through it.
docker_answers() { command -v curl >/dev/null && docker_api /_ping >/dev/null; }

podman_answers() {
	[ -S "$socket" ] && curl -sf --max-time 3 --unix-socket "$socket" http://d/_ping >/dev/null 2>&1
}
