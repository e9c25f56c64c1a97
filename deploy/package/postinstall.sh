#!/bin/sh
# Runs after hogtail is installed or upgraded (.deb postinst, .rpm %post).
# A first install starts nothing: the config is the operator's to review
# (systemctl enable --now hogtail). An upgrade restarts a running hogtail
# on the new binary. Without a running systemd (containers, chroots,
# image builds) there is nothing to reload or restart.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	case "$1" in
	configure) # deb: $2 is the version being upgraded from, empty on a first install
		if [ -n "$2" ]; then systemctl try-restart hogtail.service || true; fi ;;
	[2-9]*) # rpm: the number of versions installed once this one is, 2 on an upgrade
		systemctl try-restart hogtail.service || true ;;
	esac
fi
exit 0
