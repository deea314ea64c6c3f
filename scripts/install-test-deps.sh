#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine with the Rust toolchain:
# Git (with git-daemon and git-http-backend), and the servers the store tests start on loopback.
# Safe to run again: what is present is left alone.
set -euo pipefail

need_apt=()
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v lighttpd >/dev/null 2>&1 || need_apt+=(lighttpd)
[ -e /usr/lib/lighttpd/mod_openssl.so ] || need_apt+=(lighttpd-mod-openssl)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
# kubectl, as a real client of the in-process Kubernetes API stand-in.
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubernetes-client)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${need_apt[*]} with apt-get"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# git daemon and git http-backend ship with Git; find them for the tests.
exec_path="$(git --exec-path)"
for tool in git-daemon git-http-backend; do
  if [ ! -x "$exec_path/$tool" ]; then
    echo "install-test-deps: $tool is missing from $exec_path" >&2
    exit 1
  fi
done

# S3-compatible server for the bucket tests (checks SigV4 signatures).
if ! command -v s3s-fs >/dev/null 2>&1; then
  echo "install-test-deps: installing s3s-fs with cargo"
  cargo install s3s-fs@0.14.1 --features binary --locked --quiet
fi

echo "install-test-deps: ready (git $(git --version | cut -d' ' -f3), lighttpd, sshd, s3s-fs, kubectl)"
