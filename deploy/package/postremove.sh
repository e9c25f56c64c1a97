#!/bin/sh
# Runs after hogtail is removed, purged or upgraded (.deb postrm, .rpm
# %postun): systemd forgets the removed unit. The disk buffer in
# /var/lib/hogtail (/var/lib/private/hogtail with DynamicUser) is kept, even
# on purge, since it may hold events not yet delivered.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
