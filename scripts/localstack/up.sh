#!/usr/bin/env bash
# make localstack: LocalStack 4.14.0 on the host (no registry here to pull its image), on loopback only,
# driving Lambda containers through the project's container engine (make containers).
#
#   up.sh PY313_DIR PORT SERVICES
#
# SERVICES: what the template needs (scripts/localstack/services.py). What this machine lacks, and what
# stands in, each pinned to 4.14.0:
# - DynamoDB Local (a Java program LocalStack downloads at first use): moto's DynamoDB, which LocalStack
#   ships, through a provider plugin (scripts/localstack/plugin, PROVIDER_OVERRIDE_DYNAMODB=moto);
# - the runtime image pull: a hook of the plugin uses an image already present; python3.12 maps to the
#   stand-in base image with the built layer at /opt (layer-image.sh: LocalStack's community Lambda does
#   not mount layers);
# - LocalStack's Lambda init binary (downloaded from GitHub at first use): scripts/localstack/init.py.
set -euo pipefail
py_dir=$1 port=$2 services=$3
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/scripts/localstack"
ls_dir="$root/.localstack"
venv="$root/.venv-localstack"
url="http://127.0.0.1:$port"
mkdir -p "$ls_dir"

die() { echo "localstack: $*" >&2; exit 1; }
[ -x "$py_dir/python3.13" ] || die "needs Python 3.13 (LocalStack 4.14's code uses newer syntax than 3.11): install python3.13 (or pyenv install 3.13)"

stamp="$venv/.installed"
if [ ! -f "$stamp" ] || [ "$root/requirements-localstack.txt" -nt "$stamp" ] || [ -n "$(find "$here/plugin" -newer "$stamp" -type f)" ]; then
	rm -rf "$venv"
	"$py_dir/python3.13" -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/requirements-localstack.txt" "$here/plugin"
	rm -rf "$here/plugin/build" "$here"/plugin/*.egg-info
	touch "$stamp"
fi

# LocalStack's settings that decide its folders: on the host (this kind of machine has a /.dockerenv), with
# its data under .localstack/volume.
export OVERRIDE_IN_DOCKER=0 LOCALSTACK_VOLUME_DIR="$ls_dir/volume"
mkdir -p "$LOCALSTACK_VOLUME_DIR"

# The init binary's place (LocalStack installs it there at first use, and copies that folder into each
# function's container): the stand-in, which also marks it installed.
init_dir="$("$venv/bin/python" -c '
from localstack.packages import InstallTarget
from localstack.services.lambda_.packages import lambda_runtime_package
print(lambda_runtime_package.get_installer()._get_install_dir(InstallTarget.STATIC_LIBS))')"
case "$init_dir" in "$venv"/*) ;; *) die "LocalStack keeps its init binary outside .venv-localstack ($init_dir): not touching it" ;; esac
mkdir -p "$init_dir/var/rapid"
install -m 0755 "$here/init.py" "$init_dir/var/rapid/init"

if curl -sf --max-time 2 "$url/_localstack/health" >/dev/null; then
	echo "localstack: already answering at $url"
	exit 0
fi
source "$root/scripts/containers/common.sh"
docker_host="$(cat "$root/.containers/docker-host" 2>/dev/null)" || die "no container engine: run make containers first"
# Lambda containers join the project's network (podman) or Docker's default bridge, and call LocalStack back
# on that network's gateway (loopback and that gateway are the only addresses it listens on).
gateway="$(cat "$root/.containers/gateway")"
podman_answers || network=bridge
env GATEWAY_LISTEN="127.0.0.1:$port,$gateway:$port" GATEWAY_SERVER=hypercorn DNS_ADDRESS=0 \
	LAMBDA_DOCKER_NETWORK="$network" HOSTNAME_FROM_LAMBDA="$gateway" \
	SERVICES="$services" PROVIDER_OVERRIDE_DYNAMODB=moto DOCKER_HOST="$docker_host" \
	LAMBDA_RUNTIME_IMAGE_MAPPING="{\"python3.12\": \"$layer_image\"}" SKIP_SSL_CERT_DOWNLOAD=1 \
	nohup "$venv/bin/python" -m localstack.runtime.main >"$ls_dir/localstack.log" 2>&1 &
echo $! >"$ls_dir/localstack.pid"
start=$SECONDS
for _ in $(seq 120); do
	curl -sf --max-time 2 "$url/_localstack/health" >/dev/null && { echo "localstack: ready at $url in $((SECONDS - start)) s (pid $(cat "$ls_dir/localstack.pid"), services $services)"; exit 0; }
	kill -0 "$(cat "$ls_dir/localstack.pid")" 2>/dev/null || break
	sleep 1
done
tail -n 5 "$ls_dir/localstack.log" >&2
die "did not answer at $url (see .localstack/localstack.log)"
