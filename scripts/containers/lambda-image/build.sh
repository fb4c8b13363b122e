#!/usr/bin/env bash
# Build the local stand-in for AWS's public.ecr.aws/lambda/python:3.12-x86_64 with no image registry:
# a Debian bookworm root (debootstrap, from Debian's archive), the Python 3.12 that `sam build` uses copied
# to /var/lang as in AWS's image, and the runtime interface client and boto3 from PyPI.
#
#   build.sh PODMAN PY312_DIR IMAGE RECIPE_HASH WORK_DIR
#
# The image is labelled with the recipe's hash; scripts/containers/up.sh rebuilds only when it changes.
set -euo pipefail

podman=$1 py_dir=$2 image=$3 recipe=$4 work=$5
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="$py_dir/python3.12"
prefix="$("$python" -c 'import sys; print(sys.base_prefix)')"
root="$work/rootfs"

rm -rf "$work"
mkdir -p "$work"
# The shared libraries a CPython build links against (ssl for botocore, ffi, sqlite3, compression).
debootstrap --variant=minbase \
	--include=ca-certificates,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libreadline8,libncursesw6,libuuid1 \
	bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
	|| { tail -n 5 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

# Python under /var/lang, as AWS lays it out; its libpython is found through LD_LIBRARY_PATH (set below).
mkdir -p "$root/var/lang" "$root/var/runtime" "$root/var/task" "$root/opt"
tar -C "$prefix" \
	--exclude='lib/python3.12/test' --exclude='lib/python3.12/idlelib' --exclude='lib/python3.12/tkinter' \
	--exclude='lib/python3.12/turtledemo' --exclude='lib/python3.12/site-packages/*' --exclude='*.a' \
	-cf - bin/python3.12 lib include/python3.12 | tar -C "$root/var/lang" -xf -
ln -sf python3.12 "$root/var/lang/bin/python3"
ln -sf python3.12 "$root/var/lang/bin/python"
"$python" -m pip install --quiet --disable-pip-version-check --no-compile \
	--target "$root/var/runtime" -r "$here/requirements.txt"
install -m 0755 "$here/bootstrap" "$root/var/runtime/bootstrap"

tar -C "$root" -cf "$work/rootfs.tar" .
"$podman" import \
	--change 'ENV LANG=en_US.UTF-8' \
	--change 'ENV TZ=:/etc/localtime' \
	--change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin' \
	--change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
	--change 'ENV LAMBDA_TASK_ROOT=/var/task' \
	--change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
	--change 'WORKDIR /var/task' \
	--change "LABEL order-saga.recipe=$recipe" \
	--change 'ENTRYPOINT ["/var/runtime/bootstrap"]' \
	"$work/rootfs.tar" "$image" >/dev/null
rm -rf "$work"
