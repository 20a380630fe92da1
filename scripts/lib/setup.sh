# Shared set-up for scripts/demo, scripts/test and scripts/bench: install what is missing.
# Sourced, not run. Works on a fresh Debian/Ubuntu machine, as root or with sudo.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Each step is announced with the seconds since the script started, so a slow step is easy to find.
say() { printf '\033[1m▸ [%4d s] %s\033[0m\n' "$SECONDS" "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update -qq >&2
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Postgres server binaries (initdb, pg_ctl, postgres) for the private clusters.
ensure_postgres() {
    if [ -n "${TOTE_PG_BIN:-}" ] && [ -x "$TOTE_PG_BIN/initdb" ]; then return; fi
    if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then return; fi
    say "installing the Postgres server package"
    apt_install postgresql
    # Debian starts a system cluster on install; tote never uses it.
    as_root systemctl disable --now postgresql >/dev/null 2>&1 || true
}

# Headless Chromium (and a font for it) for the browser test of `tote report`; exports
# TOTE_TEST_CHROMIUM.
ensure_chromium() {
    if ! command -v chromium >/dev/null 2>&1; then
        say "installing chromium for the report's browser test"
        apt_install chromium fonts-dejavu-core
    fi
    export TOTE_TEST_CHROMIUM="$(command -v chromium)"
}

# The Rust toolchain with rustfmt and clippy.
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo not found: install Rust (https://rustup.rs) and run again" >&2
        exit 1
    fi
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        rustup component add rustfmt clippy >&2
    fi
}

# cargo-nextest runs every test binary in parallel with one process per test.
ensure_nextest() {
    if ! cargo nextest --version >/dev/null 2>&1; then
        say "installing cargo-nextest"
        cargo install --locked cargo-nextest >&2
    fi
}

# cargo-deny (licenses, duplicate versions, sources, advisories of the dependencies), pinned. A
# debug build: it installs in about 2 minutes instead of 5, and its checks still take seconds.
ensure_cargo_deny() {
    local tools="$ROOT/target/tools"
    export PATH="$tools/bin:$PATH"
    if ! cargo deny --version 2>/dev/null | grep -q '^cargo-deny 0\.20\.'; then
        say "installing cargo-deny into $tools"
        cargo install --locked --debug cargo-deny --version 0.20.2 --root "$tools" >&2
    fi
}

# Makes `$1` a Python venv with `$3...` installed from PyPI unless `$2` (a Python statement)
# already runs in it: the one way every venv of the project is made.
ensure_venv() {
    local venv="$1" probe="$2"
    shift 2
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$probe" >/dev/null 2>&1; then return; fi
    say "installing $* into $venv"
    if [ ! -x "$venv/bin/python" ] && ! python3 -m venv "$venv" >/dev/null 2>&1; then
        apt_install python3-venv
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
}

# Python tools of the tests, in a venv of the project's own: pyarrow (the independent Parquet
# reader) and moto (a local AWS-protocol server: S3, Secrets Manager, SNS, Step Functions).
ensure_pytools() {
    ensure_venv "$ROOT/target/pyenv" 'import pyarrow, moto.server' pyarrow "moto[server]"
    export TOTE_TEST_PYTHON="$ROOT/target/pyenv/bin/python"
}

# The bench's peer: DuckDB from PyPI, in a venv of its own (target/bench-venv), so that the
# benchmark never changes the tests' tools. Exports TOTE_BENCH_PYTHON, which `tote bench` runs
# scripts/lib/duckdb_transform.py with.
ensure_bench_tools() {
    ensure_venv "$ROOT/target/bench-venv" 'import duckdb' "duckdb>=1.1,<2"
    export TOTE_BENCH_PYTHON="$ROOT/target/bench-venv/bin/python"
}

# Starts moto on a free loopback port for the rest of the script; exports TOTE_TEST_MOTO.
start_moto() {
    local port
    port="$("$TOTE_TEST_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$ROOT/target/pyenv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$ROOT/target/moto.log" 2>&1 &
    MOTO_PID=$!
    export TOTE_TEST_MOTO="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do
        if "$TOTE_TEST_PYTHON" -c "import urllib.request; urllib.request.urlopen('$TOTE_TEST_MOTO/moto-api/')" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    echo "moto_server did not start; see target/moto.log" >&2
    return 1
}

# cargo-lambda (`cargo lambda build`, and `cargo lambda watch`, the Lambda Runtime API emulator)
# and zig (its cross-linker for the musl targets), from PyPI into the project's venv (target/pyenv,
# shared with ensure_pytools). Puts the venv's bin directory first on PATH, so that `cargo lambda`
# and `python3 -m ziglang` (how cargo-lambda finds zig) resolve there.
ensure_lambda_tools() {
    local venv="$ROOT/target/pyenv"
    ensure_venv "$venv" 'import ziglang, os, sys; sys.exit(not os.access(sys.prefix + "/bin/cargo-lambda", os.X_OK))' \
        "cargo-lambda>=1.9,<2" ziglang
    export PATH="$venv/bin:$PATH"
}

# The RustSec advisory database for `cargo deny check advisories`. Where it can be fetched (it
# lives on GitHub) the fetched copy is used; otherwise the offline copy in ../shared/rustsec
# (TOTE_RUSTSEC_ARCHIVE to name another archive) is unpacked into target/advisory-dbs, as the
# folder cargo-deny expects for the default database: a git repository with one commit, whose
# commit time cargo-deny reads as the database's age. Sets DENY_OFFLINE to the flag
# `cargo deny` then needs ("--offline" for the unpacked copy, empty for a fetched one) and exports
# TOTE_ADVISORY_DB_PATH (target/advisory-dbs), which deny.toml's db-path reads.
ensure_advisory_db() {
    DENY_OFFLINE=""
    local root="$ROOT/target/advisory-dbs"
    export TOTE_ADVISORY_DB_PATH="$root"
    if timeout 60 cargo deny fetch db >/dev/null 2>&1; then
        say "cargo deny: using the freshly fetched RustSec database"
        return 0
    fi
    local archive="${TOTE_RUSTSEC_ARCHIVE:-$ROOT/../shared/rustsec/advisory-db.tar.gz}"
    if [ ! -f "$archive" ]; then
        echo "cargo deny: the RustSec database cannot be fetched and there is no offline copy at $archive;" >&2
        echo "  set TOTE_RUSTSEC_ARCHIVE to a tarball of github.com/rustsec/advisory-db" >&2
        return 1
    fi
    local db="$root/advisory-db-3157b0e258782691"
    local stamp
    stamp="$(sha256sum "$archive" | cut -c1-16)"
    if [ ! -f "$db/.tote-archive-$stamp" ]; then
        rm -rf "$db"
        mkdir -p "$db"
        tar -xzf "$archive" -C "$db"
        # The commit's time is the newest advisory's date, so the database's age is the copy's age.
        local when
        when="$(grep -rhoE '^date = "[0-9]{4}-[0-9]{2}-[0-9]{2}"' "$db/crates" | grep -oE '[0-9-]{10}' | sort | tail -1)T00:00:00Z"
        (
            cd "$db" &&
                git init -q &&
                git add -A &&
                GIT_AUTHOR_DATE="$when" GIT_COMMITTER_DATE="$when" git -c user.name=tote -c user.email=tote@localhost \
                    commit -q -m "RustSec advisory database, offline copy"
        )
        touch "$db/.tote-archive-$stamp"
    fi
    DENY_OFFLINE="--offline"
    say "cargo deny: the RustSec database cannot be fetched here; using the offline copy $archive (newest advisory $(git -C "$db" log -1 --format=%cs))"
}
