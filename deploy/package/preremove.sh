#!/bin/sh
# Runs before hogtail is removed or upgraded (.deb prerm, .rpm %preun).
# On a removal (not an upgrade) hogtail is stopped and disabled; the stop
# drains queued events for up to shutdown_timeout, and what is left stays
# in /var/lib/hogtail for a later install.
set -e
case "$1" in
remove | 0) # deb: "remove"; rpm: 0 versions left once this one is gone
	if [ -d /run/systemd/system ]; then
		systemctl stop hogtail.service || true
	fi
	if command -v systemctl >/dev/null 2>&1; then
		systemctl --no-reload disable hogtail.service >/dev/null 2>&1 || true
	fi ;;
esac
exit 0
