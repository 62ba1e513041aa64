#!/usr/bin/env bash
# Build the Dockerfile's image from a fresh clone and check it as a host runs it, on a machine that can neither
# pull base images nor run containers (docs/hosts.md, "The image, built and run here"). By hand, not in CI: it
# runs as root, needs `apt-get install podman debootstrap`, the Debian mirror, PyPI and the npm registry, and
# about 10 minutes.
#
#   deploy/build-test-image.sh DATA_FOLDER
#
# DATA_FOLDER is a built ATLAS_DATA_DIR (python -m pipeline build): it is copied, never changed. What it does:
#   1. base images: a Debian root filesystem made by debootstrap and imported with podman, and two images on it
#      standing in for the public bases (python3 and pip; nodejs and npm, both from Debian);
#   2. `podman build --isolation chroot` of a fresh clone of this repository's HEAD, with those bases passed as
#      the Dockerfile's NODE_IMAGE and PYTHON_IMAGE build arguments;
#   3. the image's filesystem (podman mount) run under chroot as the image's user, its command as the image
#      says, on a copy of DATA_FOLDER bind-mounted at /data and a loopback port: health, pages, the API, the tile
#      worker, the England and Wales maps, exports, the `atlas` command;
#   4. the same on a data folder that user cannot write (owned by root; mounted read-only): one message naming
#      the folder and the user, no worker started, no traceback.
# Settings (environment): ATLAS_IMAGE_WORK (/tmp/atlas-image), ATLAS_IMAGE_PORT (18750), ATLAS_IMAGE_SUITE
# (bookworm: the public bases' Debian), ATLAS_IMAGE_MIRROR (the Debian mirror apt uses here), REBUILD_BASE=1
# (make the base images again).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(git -C "$HERE" rev-parse --show-toplevel)
WORK=${ATLAS_IMAGE_WORK:-/tmp/atlas-image}
PORT=${ATLAS_IMAGE_PORT:-18750}
SUITE=${ATLAS_IMAGE_SUITE:-bookworm}
MIRROR=${ATLAS_IMAGE_MIRROR:-$(grep -hs -m1 '^URIs:.*/debian$' /etc/apt/sources.list.d/*.sources | awk '{print $2}' || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
IMAGE=localhost/atlas:test
BASE=localhost/debian:$SUITE
PYTHON_BASE=localhost/atlas-base-python:$SUITE
NODE_BASE=localhost/atlas-base-node:$SUITE

# -- run the image's command under chroot (called again by this script inside its own mount and pid namespace) --
if [[ ${1:-} == __serve ]]; then
    root=$2 data=$3 port=$4 mode=$5
    mount --rbind /dev "$root/dev"
    mount -t proc proc "$root/proc"
    mount --bind "$data" "$root/data"
    if [[ $mode == ro ]]; then mount -o remount,bind,ro "$root/data"; fi
    mapfile -t envs < "$WORK/image.env"
    mapfile -t cmd < "$WORK/image.cmd"
    read -r user uid gid home workdir < "$WORK/image.user"
    cd /
    exec chroot --userspec="$uid:$gid" "$root" /usr/bin/env -i "${envs[@]}" HOME="$home" USER="$user" \
        GUNICORN_CMD_ARGS="--bind 127.0.0.1:$port" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$workdir" "${cmd[@]}"
fi

DATA_SRC=${1:?usage: deploy/build-test-image.sh DATA_FOLDER (a built ATLAS_DATA_DIR: copied, never changed)}
[[ -e $DATA_SRC/current ]] || { echo "$DATA_SRC has no current build (python -m pipeline build)" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "run as root (debootstrap, podman, chroot, mount)" >&2; exit 2; }
mkdir -p "$WORK"
say() { printf '\n== %s\n' "$*"; }
failures=0
check() {  # check WHAT CONDITION...: print ok/FAILED, count failures
    local what=$1; shift
    if "$@"; then echo "ok      $what"; else echo "FAILED  $what"; failures=$((failures + 1)); fi
}

# -- 1. base images ------------------------------------------------------------------------------------------
if [[ ${REBUILD_BASE:-0} == 1 ]] || ! podman image exists "$BASE"; then
    say "debootstrap $SUITE from $MIRROR"
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$WORK/rootfs" "$MIRROR" > "$WORK/debootstrap.log"
    # This machine's own certificate authorities (a machine that reaches the registries through an intercepting
    # proxy has one): the test bases trust what the machine trusts. Public bases need nothing of the kind.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' > /dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$WORK/rootfs/usr/local/share/ca-certificates/"
        chroot "$WORK/rootfs" update-ca-certificates > /dev/null 2>&1
    fi
    rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
    tar -C "$WORK/rootfs" -c . | podman import --quiet --change 'CMD ["/bin/bash"]' - "$BASE" > /dev/null
    rm -rf "$WORK/rootfs"
fi
if [[ ${REBUILD_BASE:-0} == 1 ]] || ! podman image exists "$PYTHON_BASE"; then
    say "$PYTHON_BASE: Debian's python3 and pip in place of python:3.11-slim"
    # pip installs system-wide as in the public image (no "externally managed" refusal); pip and npm read the
    # machine's bundle, which has the authorities copied above.
    podman build --isolation chroot -q -t "$PYTHON_BASE" -f - "$WORK" > /dev/null <<EOF
FROM $BASE
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-pip \
        python-is-python3 && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED && rm -rf /var/lib/apt/lists/*
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
EOF
fi
if [[ ${REBUILD_BASE:-0} == 1 ]] || ! podman image exists "$NODE_BASE"; then
    say "$NODE_BASE: Debian's nodejs and npm in place of node:20-bookworm-slim"
    podman build --isolation chroot -q -t "$NODE_BASE" -f - "$WORK" > /dev/null <<EOF
FROM $BASE
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
        && rm -rf /var/lib/apt/lists/*
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
EOF
fi

# -- 2. the image, from a fresh clone ---------------------------------------------------------------------------
rm -rf "$WORK/src"
git clone -q "$REPO" "$WORK/src"
commit=$(git -C "$WORK/src" rev-parse --short HEAD)
say "podman build --isolation chroot of a fresh clone at $commit (log: $WORK/build.log)"
previous=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2> /dev/null || true)
start=$(date +%s)
podman build --isolation chroot --format docker --no-cache --build-arg NODE_IMAGE="$NODE_BASE" \
    --build-arg PYTHON_IMAGE="$PYTHON_BASE" -t "$IMAGE" "$WORK/src" > "$WORK/build.log" 2>&1 \
    || { tail -30 "$WORK/build.log"; exit 1; }
seconds=$(( $(date +%s) - start ))
# The previous run's image, now untagged (the node stage's stays too, untagged: `podman image prune` by hand).
if [[ -n $previous && $previous != $(podman image inspect --format '{{.Id}}' "$IMAGE") ]]; then
    podman rmi "$previous" > /dev/null 2>&1 || true
fi
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(podman image inspect --format '{{.Size}}' "$PYTHON_BASE")
echo "built in ${seconds} s; image $((size / 1000000)) MB (its base $((base_size / 1000000)) MB)"

container=$(podman create "$IMAGE")
root=$(podman mount "$container")
cleanup() { podman umount "$container" > /dev/null 2>&1 || true; podman rm "$container" > /dev/null 2>&1 || true; }
trap cleanup EXIT
podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" | sed '/^$/d' > "$WORK/image.env"
podman image inspect --format '{{range .Config.Cmd}}{{println .}}{{end}}' "$IMAGE" | sed '/^$/d' > "$WORK/image.cmd"
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
IFS=: read -r _ _ uid gid _ home _ < <(grep "^$user:" "$root/etc/passwd")
echo "$user $uid $gid $home $(podman image inspect --format '{{.Config.WorkingDir}}' "$IMAGE")" > "$WORK/image.user"

say "the browser bundle in the image"
for file in tiles.worker.js regenerator.js; do
    check "/app/assets/vendor/$file ($(stat -c %s "$root/app/assets/vendor/$file" 2>/dev/null || echo 0) bytes)" \
        test -s "$root/app/assets/vendor/$file"
done

serve() {  # serve DATA MODE LOG: the image's command under chroot, in its own namespaces; echoes unshare's pid
    unshare --mount --pid --fork --propagation private "$HERE/build-test-image.sh" __serve "$root" "$1" "$PORT" "$2" \
        > "$3" 2>&1 &
    echo $!
}
stop() {  # stop PID: TERM to the gunicorn master (unshare's child), and wait
    local master
    master=$(ps -o pid= --ppid "$1" || true)
    [[ -n $master ]] && kill -TERM $master 2> /dev/null || true
    for _ in $(seq 60); do kill -0 "$1" 2> /dev/null || return 0; sleep 1; done
    kill -KILL "$1" 2> /dev/null || true
}

# -- 3. serving, on a copy of the data folder owned by the image's user ------------------------------------------
say "serving $DATA_SRC (a copy) on 127.0.0.1:$PORT as $user (uid $uid) under chroot"
rm -rf "$WORK/data"
cp -a "$DATA_SRC" "$WORK/data"
chown -R "$uid:$gid" "$WORK/data"
pid=$(serve "$WORK/data" rw "$WORK/serve.log")
base=http://127.0.0.1:$PORT
for _ in $(seq 300); do curl -sf -o /dev/null "$base/healthz" && break; sleep 1; done
for _ in $(seq 120); do [[ $(grep -c warmed "$WORK/serve.log") -ge 2 ]] && break; sleep 1; done

get() {  # get PATH: status, content type and size into $status $type $bytes; the body in $WORK/body
    IFS='|' read -r status type bytes < <(curl -s -m 120 -o "$WORK/body" \
        -w '%{http_code}|%{content_type}|%{size_download}\n' "$base$1")
}
expect() {  # expect STATUS TYPE PATH: the answer's status and content type (prefix)
    get "$3"
    check "GET $3: $status $type, $bytes bytes" test "$status" = "$1" -a "${type#"$2"}" != "$type"
}
expect 200 application/json /healthz
expect 200 application/json /readyz
check "/readyz says ready, the build verified" python3 -c \
    "import json, sys; r = json.load(open(sys.argv[1])); sys.exit(not (r['ready'] and r['checks']['build']['ok']))" \
    "$WORK/body"
build=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['checks']['build']['id'])" "$WORK/body")
expect 200 text/html /
check "the page loads vendor/regenerator.js" grep -q 'vendor/regenerator.js' "$WORK/body"
expect 404 text/html /no-such-page
expect 200 text/javascript /assets/tiles.js
expect 200 text/javascript /assets/vendor/tiles.worker.js   # the tile worker tiles.js starts
expect 200 text/javascript /assets/vendor/regenerator.js
expect 200 application/json /api/authorities
expect 200 application/json "/api/values/all/lad/ks102ew0018.json"                      # the national map
expect 200 application/x-protobuf "/api/areas/all/lad.pbf"
expect 200 application/json "/api/values/all/lsoa11/ks102ew0002.json"                   # England and Wales
expect 200 application/json "/api/areas/all/lsoa11.json?v=$build"                       # at a small-area level
expect 200 application/vnd.mapbox-vector-tile "/api/tiles/lsoa11/6/31/21.mvt?v=$build"
expect 200 application/vnd.mapbox-vector-tile "/api/tiles/lsoa21/8/127/85.mvt?v=$build"
expect 200 text/csv "/api/values/E09000007/oa11/ks102ew0002_pct.csv"
expect 200 application/json "/api/search?q=camden"
expect 200 application/json "/api/locate?lat=51.53&lon=-0.14"
expect 200 image/svg+xml "/export/map.svg?authority=E09000007&level=lsoa11&variable=ks102ew0002"
expect 200 image/png "/export/map.png?authority=E09000007&level=lsoa11&variable=ks102ew0002&dpi=72&width=400"
expect 200 application/zip "/datapack/E09000007.zip"
atlas_command() {
    local envs
    mapfile -t envs < "$WORK/image.env"
    chroot --userspec="$uid:$gid" "$root" /usr/bin/env -i "${envs[@]}" atlas --help > /dev/null
}
check "the atlas command runs in the image as $user" atlas_command
check "no traceback in the log" bash -c "! grep -q Traceback '$WORK/serve.log'"
stop "$pid"

# -- 4. a data folder the image's user cannot write ---------------------------------------------------------------
message="ATLAS_DATA_DIR=/data must be writable by the user the app runs as ($user, uid $uid)"
unwritable() {  # unwritable NAME DATA MODE
    say "a data folder $1"
    local log="$WORK/unwritable-$1.log" pid
    pid=$(serve "$2" "$3" "$log")
    for _ in $(seq 120); do kill -0 "$pid" 2> /dev/null || break; sleep 1; done
    check "gunicorn stopped by itself" bash -c "! kill -0 $pid 2> /dev/null"
    stop "$pid"
    check "the log names the folder and the user" grep -qF "$message" "$log"
    check "no worker started" bash -c "! grep -q 'Booting worker' '$log'"
    check "no traceback" bash -c "! grep -q Traceback '$log'"
    echo "   the log: $(grep -F "$message" "$log" | head -1 | cut -c1-220)..."
}
rm -rf "$WORK/data-root" && mkdir -m 755 "$WORK/data-root"
unwritable owned-by-root "$WORK/data-root" rw
unwritable read-only "$WORK/data" ro

say "$([[ $failures == 0 ]] && echo "all checks passed" || echo "$failures checks FAILED") (commit $commit, built in ${seconds} s, $((size / 1000000)) MB)"
[[ $failures == 0 ]]
