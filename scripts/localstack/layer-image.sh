#!/usr/bin/env bash
# The runtime image the host LocalStack runs the functions on: the base image with the built layer baked in
# at /opt, where Lambda puts a layer. LocalStack's community Lambda copies a function's code into its
# container but not its layers, so the layer has to be in the image; make localstack maps python3.12 to it.
#
#   layer-image.sh BUILD_DIR    # the x86_64/arm64 build of make build-local (.aws-sam/local)
#
# Rebuilt for each deploy (the layer may have changed); the image it replaces is pruned.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../containers/common.sh"
build=$1
layer="$(cd "$root" && .venv/bin/python -c 'from saga_cli.template import load; print(*load().layers)')"
[ -d "$build/$layer/python" ] || die "no built layer at $build/$layer/python: run make build-local first"

if podman_answers; then engine=(podman)
else engine=(env DOCKER_HOST="$(cat "$state/docker-host")" docker); fi
context="$root/.localstack/layer-image"
rm -rf "$context" && mkdir -p "$context"
cp -a "$build/$layer/." "$context/opt"
printf 'FROM %s\nCOPY opt /opt\n' "$base_image" >"$context/Containerfile"
"${engine[@]}" build --quiet -t "$layer_image" -f "$context/Containerfile" "$context" >/dev/null
"${engine[@]}" image prune -f >/dev/null
rm -rf "$context"
echo "localstack: $layer_image holds the layer $layer ($(du -sh "$build/$layer" | cut -f1))"
