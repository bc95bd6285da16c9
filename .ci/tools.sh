#!/usr/bin/env bash
# Real tools the tests run against, from Debian's packages, unpacked into .cache/tools (no service started):
# prometheus + promtool (prometheus), prometheus-alertmanager + amtool (prometheus-alertmanager), pushgateway,
# the CNCF Distribution registry (docker-registry) and skopeo with the one library it needs that the machine
# lacks (libgpgme11; tests/test_modelcar_push.py points LD_LIBRARY_PATH at it).
# PostgreSQL comes from the machine (Debian's postgresql-15) or `apt-get install postgresql`.
# Idempotent: a second run with the binaries present does nothing. Prints the bin folder.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="$PWD/.cache/tools"
bin="$dest/usr/bin"
need=(prometheus promtool prometheus-alertmanager amtool prometheus-pushgateway docker-registry skopeo)
debs=(prometheus prometheus-alertmanager prometheus-pushgateway docker-registry skopeo libgpgme11)
missing=0
for b in "${need[@]}"; do [[ -x "$bin/$b" ]] || missing=1; done
if [[ $missing == 1 ]]; then
  mkdir -p "$dest/debs"
  if ! (cd "$dest/debs" && apt-get download "${debs[@]}" >/dev/null 2>&1); then
    apt-get update -qq >/dev/null
    (cd "$dest/debs" && apt-get download "${debs[@]}" >/dev/null)
  fi
  for deb in "$dest"/debs/*.deb; do dpkg-deb -x "$deb" "$dest"; done
fi
# Debian's Alertmanager reads its notification templates from the path the package installs them to
# (/usr/share/prometheus/alertmanager, compiled in); without them it loads no configuration. Put them
# there when that is possible (root, as in CI); tests that start Alertmanager skip otherwise.
tmpl=/usr/share/prometheus/alertmanager
if [[ ! -f $tmpl/default.tmpl ]] && mkdir -p "$tmpl" 2>/dev/null; then
  cp "$dest$tmpl"/*.tmpl "$tmpl"/
fi
if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
echo "$bin"
