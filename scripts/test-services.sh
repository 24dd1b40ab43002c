#!/usr/bin/env bash
# Real services for the integration tests that talk to an OpenTelemetry
# collector, to Prometheus, to a browser (ChromeDriver driving headless
# Chromium) and to an OCI registry. All listen on loopback only.
#
#   scripts/test-services.sh start   # install what is missing, (re)start both
#   scripts/test-services.sh stop    # stop what `start` started
#
# `start` writes target/test-services/env and prints the same lines on stdout
# (progress goes to stderr), so either of these works:
#
#   eval "$(scripts/test-services.sh start)"
#   scripts/test-services.sh start >/dev/null && . target/test-services/env
#
#   GLASSBOX_TEST_OTLP_GRPC            rotel's OTLP/gRPC receiver (http://127.0.0.1:P)
#   GLASSBOX_TEST_OTLP_HTTP            rotel's OTLP/HTTP receiver (http://127.0.0.1:P)
#   GLASSBOX_TEST_OTLP_SINK            127.0.0.1:P where the test binds an OTLP/gRPC
#                                      server; rotel exports traces and metrics there
#   GLASSBOX_TEST_PROMETHEUS           Prometheus' HTTP API (http://127.0.0.1:P)
#   GLASSBOX_TEST_PROMETHEUS_TARGETS   directory watched by the `glassbox` scrape job
#   GLASSBOX_TEST_WEBDRIVER            ChromeDriver's WebDriver endpoint (http://127.0.0.1:P)
#   GLASSBOX_TEST_CHROMIUM             the Chromium binary it should start
#   GLASSBOX_TEST_REGISTRY             an OCI registry, plain HTTP (127.0.0.1:P)
#   GLASSBOX_TEST_PYTHON               a Python with the `oras` SDK installed
#
# Things a test needs to know about these two:
# - rotel always gzips what it exports, whatever --otlp-exporter-compression
#   says, so the sink must accept gzip (tonic: the "gzip" feature and
#   accept_compressed(Gzip)); otherwise rotel drops the batch with an
#   "Unimplemented" error in its log.
# - Nothing listens on the sink port until a test binds it. rotel retries a
#   refused connection (backoff 100 ms..1 s, for 30 s), so data sent before the
#   sink is up still arrives; data from an earlier test can therefore reach a
#   later test's sink: filter on something the test made unique.
# - Prometheus' service discovery passes changes on at most every 5 s, so a new
#   target is scraped 0-6 s after its file appears: poll with a generous
#   deadline. Write the target file under another name (e.g. x.json.tmp) and
#   rename it, so Prometheus never reads half a file.
#
# Installs: rotel (PyPI wheel that carries the rotel-agent binary) into a venv
# under target/test-services/ (with the oras SDK, for registry interop), and
# Debian's prometheus, chromium, chromium-driver and docker-registry (the CNCF
# distribution server) packages with apt-get (needs root; CI runs as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root="$(pwd)"

state="$repo_root/target/test-services"
venv="$state/venv"
prom_dir="$state/prometheus"
targets_dir="$prom_dir/targets"
env_file="$state/env"

# Pinned: rotel is alpha and its flags have changed between releases. The
# wheel 0.0.1a15 carries rotel-agent 0.0.1-alpha10.
rotel_version="0.0.1a15"
oras_version="0.2.38"

log() { printf 'test-services: %s\n' "$*" >&2; }

# Only a process whose executable is the one we expect is ours: a pid file can
# outlive its process (machines are reused) and the pid be handed to another.
# $2 is a glob; a trailing * also matches "(deleted)" after an upgrade.
pid_is() {
    local pid="$1" exe_glob="$2" state_char
    [[ -r "/proc/$pid/stat" ]] || return 1
    # A zombie still answers kill -0 until it is reaped; it is already gone.
    state_char="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [[ -n "$state_char" && "$state_char" != "Z" ]] || return 1
    # shellcheck disable=SC2053 # the right-hand side is meant as a pattern
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == $exe_glob ]]
}

stop_one() {
    local name="$1" exe_glob="$2" pidfile="$state/$1.pid" pid i
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && pid_is "$pid" "$exe_glob"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        # rotel may hold unsent data for its retry window; don't wait that long.
        for ((i = 0; i < 50; i++)); do
            pid_is "$pid" "$exe_glob" || break
            sleep 0.1
        done
        if pid_is "$pid" "$exe_glob"; then
            log "$name did not stop on SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

rotel_bin() {
    # The wheel puts the binary inside the package, not in the venv's bin/.
    "$venv/bin/python" -c \
        'import pathlib, rotel; print(pathlib.Path(rotel.__file__).with_name("rotel-agent"))'
}

# Matched by path rather than by asking the venv's python, which may be the
# thing that broke.
rotel_glob="$venv/lib/python*/site-packages/rotel/rotel-agent*"
prometheus_glob="/usr/bin/prometheus*"
# /usr/bin/chromedriver is a link to the real binary.
chromedriver_glob="/usr/lib/chromium/chromedriver*"
registry_glob="/usr/bin/docker-registry*"

stop_all() {
    stop_one rotel "$rotel_glob"
    stop_one prometheus "$prometheus_glob"
    stop_one chromedriver "$chromedriver_glob"
    stop_one registry "$registry_glob"
    rm -f "$env_file"
}

install_rotel() {
    local have=""
    # A venv outlives the interpreter it was made from (pyenv versions come and
    # go); such a venv cannot be repaired, only remade.
    if [[ -e "$venv" ]] && ! "$venv/bin/python" -c '' 2>/dev/null; then
        log "removing unusable venv $venv"
        rm -rf "$venv"
    fi
    if [[ -x "$venv/bin/python" ]]; then
        have="$("$venv/bin/python" -c \
            'import importlib.metadata as m; print(m.version("rotel"))' 2>/dev/null || true)"
    fi
    local have_oras=""
    if [[ -x "$venv/bin/python" ]]; then
        have_oras="$("$venv/bin/python" -c \
            'import importlib.metadata as m; print(m.version("oras"))' 2>/dev/null || true)"
    fi
    if [[ "$have" == "$rotel_version" ]] && [[ -x "$(rotel_bin)" ]] &&
        [[ "$have_oras" == "$oras_version" ]]; then
        return 0
    fi
    log "installing rotel==$rotel_version and oras==$oras_version into $venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        "${PYTHON:-python3}" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "rotel==$rotel_version" "oras==$oras_version" >&2
}

install_apt_packages() {
    local missing=()
    [[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    [[ -x /usr/bin/chromedriver ]] || missing+=(chromium-driver)
    [[ -x /usr/bin/docker-registry ]] || missing+=(docker-registry)
    command -v curl >/dev/null || missing+=(curl)
    ((${#missing[@]})) || return 0
    if [[ "$(id -u)" != 0 ]]; then
        log "need root to apt-get install ${missing[*]}"
        exit 1
    fi
    log "apt-get install ${missing[*]}"
    # The package enables a system service listening on every interface at
    # :9090. We run our own instance, so forbid the maintainer scripts from
    # starting it, unless the machine already has such a policy (Docker does).
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    {
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${missing[@]}"
    } >&2 || rc=$?
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
    return "$rc"
}

# Ports below the kernel's ephemeral range: the sink port stays unbound until a
# test binds it, and an ephemeral port could meanwhile be taken as the local end
# of some outgoing connection.
pick_ports() {
    "${PYTHON:-python3}" - "$1" <<'EOF'
import random, socket, sys
want = int(sys.argv[1])
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
chosen = []
while len(chosen) < want:
    port = random.randint(20000, max(20001, low - 1))
    if port in chosen:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        chosen.append(port)
    except OSError:
        pass
    finally:
        s.close()
print(*chosen)
EOF
}

fail() {
    local name="$1" why="$2"
    log "$name: $why; last lines of $state/$name.log:"
    tail -n 40 "$state/$name.log" >&2 || true
    stop_all
    exit 1
}

# Waits on the process as well as the port, so a crash is reported at once
# rather than after the whole timeout.
wait_ready() {
    local name="$1" exe_glob="$2" check="$3" pid i
    pid="$(cat "$state/$name.pid")"
    for ((i = 0; i < 300; i++)); do
        pid_is "$pid" "$exe_glob" || fail "$name" "exited during start-up"
        if "$check"; then
            return 0
        fi
        sleep 0.1
    done
    fail "$name" "not ready after 30 s"
}

port_open() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
rotel_ready() { port_open "$grpc_port" && port_open "$http_port"; }
prometheus_ready() {
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$prom_port/-/ready")" == 200 ]]
}

chromedriver_ready() {
    [[ "$(curl -s "http://127.0.0.1:$driver_port/status")" == *'"ready":true'* ]]
}

# ChromeDriver starts Chromium itself, once per session, with the options the
# test asks for (headless, no network beyond loopback).
start_chromedriver() {
    /usr/bin/chromedriver --port="$driver_port" --allowed-ips=127.0.0.1 \
        </dev/null >"$state/chromedriver.log" 2>&1 &
    echo $! >"$state/chromedriver.pid"
    wait_ready chromedriver "$chromedriver_glob" chromedriver_ready
}

registry_ready() {
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$registry_port/v2/")" == 200 ]]
}

# A fresh, empty registry with no authentication, storing under target/.
start_registry() {
    rm -rf "$state/registry"
    mkdir -p "$state/registry/data"
    cat >"$state/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$registry_port
EOF
    /usr/bin/docker-registry serve "$state/registry/config.yml" \
        </dev/null >"$state/registry.log" 2>&1 &
    echo $! >"$state/registry.pid"
    wait_ready registry "$registry_glob" registry_ready
}

start_rotel() {
    local bin
    bin="$(rotel_bin)"
    # NO_COLOR keeps ANSI escapes out of the log file.
    NO_COLOR=1 "$bin" start \
        --otlp-grpc-endpoint "127.0.0.1:$grpc_port" \
        --otlp-http-endpoint "127.0.0.1:$http_port" \
        --exporter otlp \
        --otlp-exporter-protocol grpc \
        --otlp-exporter-endpoint "http://127.0.0.1:$sink_port" \
        --batch-timeout 100ms \
        --otlp-exporter-retry-initial-backoff 100ms \
        --otlp-exporter-retry-max-backoff 1s \
        --otlp-exporter-retry-max-elapsed-time 30s \
        </dev/null >"$state/rotel.log" 2>&1 &
    echo $! >"$state/rotel.pid"
    wait_ready rotel "$rotel_glob" rotel_ready
}

start_prometheus() {
    # A fresh TSDB and no leftover targets: series from an earlier run would
    # still answer instant queries for five minutes.
    rm -rf "$prom_dir"
    mkdir -p "$prom_dir/data" "$targets_dir"
    cat >"$prom_dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: glassbox
    file_sd_configs:
      - files: ['$targets_dir/*.json']
        refresh_interval: 1s
EOF
    /usr/bin/prometheus \
        --config.file="$prom_dir/prometheus.yml" \
        --storage.tsdb.path="$prom_dir/data" \
        --web.listen-address="127.0.0.1:$prom_port" \
        </dev/null >"$state/prometheus.log" 2>&1 &
    echo $! >"$state/prometheus.pid"
    wait_ready prometheus "$prometheus_glob" prometheus_ready
}

cmd_start() {
    mkdir -p "$state"
    stop_all
    install_apt_packages
    install_rotel

    local ports
    ports="$(pick_ports 6)"
    read -r grpc_port http_port sink_port prom_port driver_port registry_port <<<"$ports"

    start_rotel
    log "rotel ready (OTLP gRPC :$grpc_port, HTTP :$http_port, exporting to :$sink_port)"
    start_prometheus
    log "prometheus ready on :$prom_port"
    start_chromedriver
    log "chromedriver ready on :$driver_port"
    start_registry
    log "registry ready on :$registry_port"

    cat >"$env_file.tmp" <<EOF
export GLASSBOX_TEST_OTLP_GRPC=http://127.0.0.1:$grpc_port
export GLASSBOX_TEST_OTLP_HTTP=http://127.0.0.1:$http_port
export GLASSBOX_TEST_OTLP_SINK=127.0.0.1:$sink_port
export GLASSBOX_TEST_PROMETHEUS=http://127.0.0.1:$prom_port
export GLASSBOX_TEST_PROMETHEUS_TARGETS=$(printf '%q' "$targets_dir")
export GLASSBOX_TEST_WEBDRIVER=http://127.0.0.1:$driver_port
export GLASSBOX_TEST_CHROMIUM=/usr/bin/chromium
export GLASSBOX_TEST_REGISTRY=127.0.0.1:$registry_port
export GLASSBOX_TEST_PYTHON=$(printf '%q' "$venv/bin/python")
EOF
    mv "$env_file.tmp" "$env_file"
    cat "$env_file"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) stop_all ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
