#!/bin/sh
# install-config.sh -- run by `meson install`: puts the example config in place as
# hookgate.json unless one is there already, so that an upgrade keeps the operator's config.
# $1: the absolute config directory; DESTDIR (from meson) is prepended when set.
set -eu
dir="${DESTDIR:-}$1"
if [ ! -e "$dir/hookgate.json" ]; then
  cp "$dir/hookgate.example.json" "$dir/hookgate.json"
  chmod 0644 "$dir/hookgate.json"
fi
