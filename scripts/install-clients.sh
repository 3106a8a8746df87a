#!/usr/bin/env bash
# Installs the clients of the client matrix (tests/client_matrix.rs) that are
# not Go or Rust programs: the Python clients (confluent-kafka, kafka-python,
# aiokafka) into tests/clients/.venv from tests/clients/requirements.txt, the
# Node.js clients (kafkajs, @platformatic/kafka) from their lockfiles, and kcat
# from Debian. Each part is skipped when what it installs is already there, so
# a second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
say() { echo "scripts/install-clients.sh: $*"; }

# kcat (Debian: kcat 1.7.1 with librdkafka 2.0.2).
if ! command -v kcat >/dev/null 2>&1; then
  say "installing kcat (Debian package)"
  as_root apt-get update -qq
  # Wait for another apt-get (a parallel install) instead of failing at once.
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=300 \
    install -y -qq kcat >/dev/null
fi

# Python clients: a venv under the repo, rebuilt when the requirements change
# (the stamp records the requirements file the venv was built from).
venv=tests/clients/.venv
requirements=tests/clients/requirements.txt
stamp="$venv/installed-requirements.txt"
if ! cmp -s "$requirements" "$stamp" 2>/dev/null || ! "$venv/bin/python" -c '' 2>/dev/null; then
  say "installing the Python clients into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
  "$venv/bin/pip" check >/dev/null
  cp "$requirements" "$stamp"
fi

# Node.js clients: `npm ci` from each lockfile, again only when the lockfile
# differs from the one the installed node_modules came from.
for client in kafkajs platformatic-kafka; do
  directory=tests/clients/$client
  if ! cmp -s "$directory/package-lock.json" "$directory/node_modules/.installed-package-lock.json" 2>/dev/null; then
    say "installing $client's npm packages"
    # --engine-strict=false: @platformatic/kafka declares Node.js 22; on the
    # machine's Node.js 20 its scenario supplies the one missing function.
    (cd "$directory" && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false)
    cp "$directory/package-lock.json" "$directory/node_modules/.installed-package-lock.json"
  fi
done
