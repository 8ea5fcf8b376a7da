#!/usr/bin/env bash
# Builds s3cache and installs the daemon as a systemd service.
#
#   sudo systemd/install.sh                       build, install, enable; start once configured
#   sudo systemd/install.sh --bin-dir dist/linux_arm64   install prebuilt binaries (make dist)
#   DESTDIR=/tmp/stage systemd/install.sh         stage the files under /tmp/stage (packaging);
#                                                 no root needed, systemctl is not called
#
# Installs
#   /usr/local/bin/s3cached, /usr/local/bin/s3cache
#   /etc/systemd/system/s3cached.service
#   /etc/s3cache/s3cached.env          from s3cached.env.example, only if absent; an existing
#                                      one is kept and set to root:root, mode 0640
#   /etc/s3cache/s3cached.env.example  always refreshed, for reference
#   /etc/s3cache/redis-password        empty, only if absent (root:root, mode 0600): the
#                                      Redis password, handed to s3cached as a credential
# It builds as the owner of the source tree (never as root for another user's tree) and
# installs as root.
# Then (not with DESTDIR, and only when systemd runs): daemon-reload, enable, and start (or
# restart, to pick up a new binary) once s3cached.env names a queue and has no placeholder.
# Running it again is safe: it upgrades the binaries and the unit and keeps s3cached.env.
#
# Environment: DESTDIR (staging root), VERSION (default: git describe), GO (default: go).
set -euo pipefail

destdir="${DESTDIR:-}"
bin_dir=""

usage() { sed -n '2,24s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die() { echo "install.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--bin-dir) [[ $# -ge 2 ]] || die "--bin-dir needs a directory"; bin_dir="$2"; shift 2 ;;
	--bin-dir=*) bin_dir="${1#*=}"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

if [[ -z "$destdir" && "$(id -u)" -ne 0 ]]; then
	die "must run as root to install into / (sudo $0), or set DESTDIR=/some/dir to stage the files there"
fi
if [[ -n "$destdir" && "$destdir" != /* ]]; then
	die "DESTDIR must be an absolute path, got $destdir"
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# ---- binaries -------------------------------------------------------------------------
if [[ -n "$bin_dir" ]]; then
	cp "$bin_dir/s3cached" "$tmp/" 2>/dev/null || die "$bin_dir/s3cached: missing (build with make dist, or go build -o DIR/ ./cmd/...)"
	if [[ -e "$bin_dir/s3cache" ]]; then
		cp "$bin_dir/s3cache" "$tmp/"
	fi
else
	go="${GO:-go}"
	if ! command -v "$go" >/dev/null; then
		if [[ -x /usr/local/go/bin/go ]]; then
			go=/usr/local/go/bin/go
		else
			die "go not found (sudo resets PATH: try sudo env PATH=\"\$PATH\" $0, or build first and pass --bin-dir)"
		fi
	fi
	go="$(command -v "$go")"
	# Root never runs git or go in a tree another user controls: its hooks, git config
	# (core.fsmonitor) and go.mod would run with root's rights. The tree's owner builds it;
	# root only installs the result.
	builder="$(stat -c %U "$root")"
	[[ "$builder" != UNKNOWN ]] || die "$root belongs to uid $(stat -c %u "$root"), which is no user here: chown -R it to the user who should build it"
	out="$tmp"
	as_builder() { "$@"; }
	if [[ "$(id -u)" -eq 0 && "$builder" != root ]]; then
		home="$(getent passwd "$builder" | cut -d: -f6)" || die "no passwd entry for $builder, the owner of $root"
		# The builder may enter $tmp but write only below it, in its own directories.
		chmod 0711 "$tmp"
		if ! runuser -u "$builder" -- test -w "$home" 2>/dev/null; then
			# A system user (nobody) has no home; Go needs one for its caches.
			home="$tmp/home"
			install -d -o "$builder" -m 0700 "$home"
		fi
		out="$tmp/out"
		install -d -o "$builder" -m 0700 "$out"
		# Root's own Go directories (sudo -E) are not the builder's to write.
		as_builder() { runuser -u "$builder" -- env -u GOPATH -u GOCACHE -u GOMODCACHE HOME="$home" "$@"; }
	fi
	version="${VERSION:-$(cd "$root" && as_builder git describe --tags --always --dirty 2>/dev/null || echo dev)}"
	echo "install.sh: building s3cache $version as $builder"
	(cd "$root" && as_builder env CGO_ENABLED=0 "$go" build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out/" ./cmd/...)
	if [[ "$out" != "$tmp" ]]; then
		# Read back as the builder: a link it left there shows root nothing the builder
		# could not read itself.
		for cmd in s3cached s3cache; do
			if as_builder test -f "$out/$cmd"; then
				as_builder cat "$out/$cmd" >"$tmp/$cmd"
			fi
		done
	fi
fi
[[ -f "$tmp/s3cached" ]] || die "no s3cached binary to install"
[[ -f "$tmp/s3cache" ]] || echo "install.sh: no s3cache binary (the CLI); installing s3cached only" >&2

install -d -m 0755 "$destdir/usr/local/bin"
for cmd in s3cached s3cache; do
	if [[ -f "$tmp/$cmd" ]]; then
		install -m 0755 "$tmp/$cmd" "$destdir/usr/local/bin/$cmd"
		echo "install.sh: installed $destdir/usr/local/bin/$cmd"
	fi
done

# ---- unit and configuration -------------------------------------------------------------
install -d -m 0755 "$destdir/etc/systemd/system"
install -m 0644 "$here/s3cached.service" "$destdir/etc/systemd/system/s3cached.service"
echo "install.sh: installed $destdir/etc/systemd/system/s3cached.service"

env_file="$destdir/etc/s3cache/s3cached.env"
install -d -m 0750 "$destdir/etc/s3cache"
install -m 0644 "$here/s3cached.env.example" "$destdir/etc/s3cache/s3cached.env.example"
if [[ -e "$env_file" ]]; then
	# The file holds the Redis URL: whatever mode an editor or a copy left it with, only
	# root may change it and only root and the service's group may read it.
	chmod 0640 "$env_file"
	[[ "$(id -u)" -ne 0 ]] || chown root:root "$env_file" "$destdir/etc/s3cache"
	chmod 0750 "$destdir/etc/s3cache"
	echo "install.sh: kept $env_file (owner root:root, mode 0640)"
else
	install -m 0640 "$here/s3cached.env.example" "$env_file"
	echo "install.sh: installed $env_file from the example: fill it in"
fi

# The Redis password, which the unit hands to s3cached as a credential. Empty: the URL has
# it, or Redis needs none.
password_file="$destdir/etc/s3cache/redis-password"
if [[ -e "$password_file" ]]; then
	chmod 0600 "$password_file"
	[[ "$(id -u)" -ne 0 ]] || chown root:root "$password_file"
else
	install -m 0600 /dev/null "$password_file"
	echo "install.sh: installed an empty $password_file (put the Redis password there, or leave it empty)"
fi

# ---- service ----------------------------------------------------------------------------
if [[ -n "$destdir" ]]; then
	echo "install.sh: staged under $destdir; systemctl not called"
	exit 0
fi
if [[ ! -d /run/systemd/system ]]; then
	echo "install.sh: systemd is not running here; installed the files only"
	exit 0
fi

systemctl daemon-reload
systemctl enable --quiet s3cached.service
if ! grep -Eq '^S3CACHE_QUEUE_URL=.+' "$env_file" || grep -q 'REPLACE_WITH_' "$env_file"; then
	echo "install.sh: enabled s3cached; edit $env_file (S3CACHE_QUEUE_URL, S3CACHE_REDIS_URL, AWS_REGION),"
	echo "            then: sudo systemctl start s3cached"
	exit 0
fi
# restart starts a stopped service too, and picks up a new binary in a running one. Don't
# block on it: READY=1 waits until Redis and the queue answer.
systemctl restart --no-block s3cached.service
for _ in $(seq 30); do
	systemctl is-active --quiet s3cached.service && break
	sleep 1
done
if systemctl is-active --quiet s3cached.service; then
	echo "install.sh: s3cached is running (journalctl -u s3cached -f)"
else
	echo "install.sh: s3cached is not ready yet:" >&2
	systemctl status --no-pager --lines=10 s3cached.service >&2 || true
	exit 1
fi
