#!/usr/bin/env bash
# Removes what install.sh installed.
#
#   sudo systemd/uninstall.sh            stop and disable s3cached, remove binaries and unit
#   sudo systemd/uninstall.sh --purge    also remove /etc/s3cache (it holds the Redis password)
#                                        and the unit's drop-ins (s3cached.service.d/)
#   DESTDIR=/tmp/stage systemd/uninstall.sh   remove the staged files; systemctl is not called
#
# Running it again is safe.
set -euo pipefail

destdir="${DESTDIR:-}"
purge=false

die() { echo "uninstall.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--purge) purge=true; shift ;;
	-h | --help) sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

if [[ -z "$destdir" && "$(id -u)" -ne 0 ]]; then
	die "must run as root to uninstall from / (sudo $0), or set DESTDIR=/some/dir for a staged tree"
fi
if [[ -n "$destdir" && "$destdir" != /* ]]; then
	die "DESTDIR must be an absolute path, got $destdir"
fi

unit="$destdir/etc/systemd/system/s3cached.service"
systemd_running=false
[[ -z "$destdir" && -d /run/systemd/system ]] && systemd_running=true

if $systemd_running && systemctl cat s3cached.service >/dev/null 2>&1; then
	systemctl disable --now --quiet s3cached.service || true
	systemctl reset-failed s3cached.service 2>/dev/null || true
fi

rm -f "$unit" "$destdir/usr/local/bin/s3cached" "$destdir/usr/local/bin/s3cache"
echo "uninstall.sh: removed the unit and the binaries"
if $systemd_running; then
	systemctl daemon-reload
fi

dropins="$destdir/etc/systemd/system/s3cached.service.d"
if $purge; then
	# Drop-ins (systemctl edit s3cached) are configuration too, and may hold secrets.
	rm -rf "$destdir/etc/s3cache" "$dropins"
	echo "uninstall.sh: removed $destdir/etc/s3cache and $dropins"
else
	for kept in "$destdir/etc/s3cache" "$dropins"; do
		[[ ! -d "$kept" ]] || echo "uninstall.sh: kept $kept (--purge removes it)"
	done
fi
