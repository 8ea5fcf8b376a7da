#!/usr/bin/env bash
# Installs the servers the integration tests run against, when they are missing:
#   - redis-server and redis-cli (Debian's redis-server and redis-tools, via apt-get);
#   - systemd-analyze (Debian's systemd), which checks the unit file;
#   - jq (Debian's jq), which the EC2 host's user data uses and cfn's tests run;
#   - promtool (Debian's prometheus), which checks and unit-tests the alert rules;
#   - redis-py and boto3 for Debian's python3 (python3-redis, python3-boto3), which the
#     Python reader's tests use;
#   - Debian's AWS CLI (awscli, v2), which runs the commands s3cache demo --serve prints;
#   - shellcheck (Debian's shellcheck), which checks the shell scripts (systemd/);
#   - goaws v0.5.4, the SQS-compatible server, into .bin/goaws (via go install).
# The S3-compatible server (gofakes3) is a Go module and needs no installation.
# Idempotent; prints nothing when everything is present.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
goaws_pkg="github.com/Admiral-Piett/goaws/app/cmd@v0.5.4"

# The same places internal/testenv looks for goaws.
have_goaws() {
	if [[ -n "${GOAWS_BIN:-}" ]]; then
		[[ -x "$GOAWS_BIN" ]] && return 0
		echo "GOAWS_BIN=$GOAWS_BIN is not an executable file" >&2
		exit 1
	fi
	command -v goaws >/dev/null && return 0
	[[ -x "$root/.bin/goaws" ]] && return 0
	local gocmd
	gocmd="$(go env GOPATH | cut -d: -f1)/bin/cmd"
	[[ -x "$gocmd" ]] && go version -m "$gocmd" 2>/dev/null | grep -q 'mod[[:space:]]*github.com/Admiral-Piett/goaws[[:space:]]'
}

# apt_install installs Debian packages, with sudo when not root.
apt_install() {
	local sudo=""
	if [[ "$(id -u)" -ne 0 ]]; then
		command -v sudo >/dev/null || { echo "install-test-deps: not root and no sudo: install $* yourself" >&2; exit 1; }
		sudo="sudo"
	fi
	echo "install-test-deps: installing Debian packages $*"
	if [[ -z "${apt_updated:-}" ]]; then
		$sudo apt-get update -qq
		apt_updated=1
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	apt_install redis-server redis-tools
fi
if ! command -v systemd-analyze >/dev/null; then
	apt_install systemd
fi
if ! command -v jq >/dev/null; then
	apt_install jq
fi
if ! command -v promtool >/dev/null; then
	apt_install prometheus
fi
# The Debian interpreter, whatever python3 comes first on PATH (examples/python looks
# there first).
if ! /usr/bin/python3 -c 'import redis, boto3' 2>/dev/null; then
	apt_install python3 python3-redis python3-boto3
fi
if [[ ! -x /usr/bin/aws ]]; then
	apt_install awscli
fi
if ! command -v shellcheck >/dev/null; then
	apt_install shellcheck
fi
# cfn-lint comes from PyPI, which this script cannot reach. Say so when it is missing:
# cfn's TestTemplate_CfnLint is then skipped (the README says so).
if ! command -v cfn-lint >/dev/null; then
	echo "install-test-deps: cfn-lint not found; TestTemplate_CfnLint is skipped; pip install cfn-lint runs it" >&2
fi

if ! have_goaws; then
	echo "install-test-deps: installing goaws ($goaws_pkg) as .bin/goaws"
	mkdir -p "$root/.bin"
	(cd "$root" && env -u GOFLAGS GOBIN="$root/.bin" go install "$goaws_pkg")
	mv -f "$root/.bin/cmd" "$root/.bin/goaws"
fi
