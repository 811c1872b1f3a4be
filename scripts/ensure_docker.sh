#!/usr/bin/env bash
# Make sure a Docker daemon answers and the sandbox image exists (called by `make services`).
# On a machine where we are root with apt and no daemon answers, install Debian's docker.io (plus
# debootstrap and bubblewrap) and start dockerd in the background. Idempotent: fast when all is ready.
set -euo pipefail
cd "$(dirname "$0")/.."

LOG=${DOCKERD_LOG:-/var/log/agentoss-dockerd.log}
AGENTOSS=${AGENTOSS:-.venv/bin/agentoss}

daemon_answers() { timeout 5 docker info >/dev/null 2>&1; }
is_root_with_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
    echo "ensure_docker: installing $*"
    if [ -z "${APT_UPDATED:-}" ]; then
        timeout 600 apt-get update -q >/dev/null
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q "$@" >/dev/null
}

if ! daemon_answers; then
    if ! command -v dockerd >/dev/null 2>&1; then
        if is_root_with_apt; then
            apt_install docker.io debootstrap bubblewrap
        else
            echo "ensure_docker: no Docker daemon and cannot install one (need root with apt)." >&2
            echo "ensure_docker: install Docker Engine, or the docker tests will skip outside CI." >&2
            exit 0
        fi
    fi
    if [ "$(id -u)" = 0 ]; then
        echo "ensure_docker: starting dockerd (log: $LOG)"
        mkdir -p "$(dirname "$LOG")"
        setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &
        for _ in $(seq 1 60); do
            daemon_answers && break
            sleep 1
        done
    fi
    if ! daemon_answers; then
        echo "ensure_docker: dockerd did not answer within 60 s; last log lines:" >&2
        tail -n 20 "$LOG" >&2 || true
        exit 1
    fi
fi

# The offline image build needs debootstrap when no registry is reachable; LocalSandbox needs bwrap.
missing=()
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ ${#missing[@]} -gt 0 ] && is_root_with_apt; then
    apt_install "${missing[@]}"
fi

tag=$("$AGENTOSS" sandbox build --quiet)
echo "ensure_docker: docker ready, sandbox image $tag"
