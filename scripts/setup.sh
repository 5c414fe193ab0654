#!/usr/bin/env bash
# Provisions everything zerocost needs on a fresh Debian 12 machine with Go, gcc and Node/npm:
#   - the ONNX Runtime 1.24.1 shared library, taken from the npm package onnxruntime-node@1.24.1
#     (package/bin/napi-v6/linux/x64/libonnxruntime.so.1), checked against a pinned SHA-256 and put in
#     the git-ignored folder .ort/ of this repository (a copy is kept in the user's cache folder so that
#     a second clone does not download it again);
#   - with --oracle, Debian's PyTorch, torchvision and onnx (apt-get), which only the fixture generators
#     under testdata/ need; the tests themselves read committed fixtures.
# Idempotent: a second run checks the hash and does nothing else. Fails loudly with the reason.
set -euo pipefail

ORT_VERSION=1.24.1
ORT_SHA256=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4
ORT_MEMBER=package/bin/napi-v6/linux/x64/libonnxruntime.so.1

root=$(cd "$(dirname "$0")/.." && pwd)
dest_dir="$root/.ort"
dest="$dest_dir/libonnxruntime.so.1"
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/zerocost/onnxruntime-$ORT_VERSION"
cached="$cache_dir/libonnxruntime.so.1"

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

hash_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$ORT_SHA256" ]; }

want_oracle=0
for arg in "$@"; do
  case "$arg" in
    --oracle) want_oracle=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown argument $arg (use --oracle to also install Debian's PyTorch)" ;;
  esac
done

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "only Linux x86_64 is provisioned automatically; on $(uname -s)-$(uname -m) set ZEROCOST_ORT_LIB to an ONNX Runtime $ORT_VERSION library"
command -v go >/dev/null || die "go is not on PATH: install Go 1.26"
command -v gcc >/dev/null || die "gcc is not on PATH: zerocost uses cgo (apt-get install gcc)"

if hash_ok "$dest"; then
  say "ONNX Runtime $ORT_VERSION already in $dest (sha256 ok)"
elif hash_ok "$cached"; then
  mkdir -p "$dest_dir"
  cp "$cached" "$dest.tmp" && mv "$dest.tmp" "$dest"
  say "copied ONNX Runtime $ORT_VERSION from the cache $cached to $dest"
else
  command -v npm >/dev/null || die "npm is not on PATH: it is needed once to fetch onnxruntime-node@$ORT_VERSION (apt-get install npm)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  say "fetching onnxruntime-node@$ORT_VERSION with npm pack (no install scripts run) ..."
  (cd "$tmp" && npm pack "onnxruntime-node@$ORT_VERSION" --ignore-scripts --silent >/dev/null) \
    || die "npm pack onnxruntime-node@$ORT_VERSION failed: check that the npm registry is reachable"
  tgz=$(ls "$tmp"/onnxruntime-node-*.tgz 2>/dev/null | head -1)
  [ -n "$tgz" ] || die "npm pack produced no archive"
  tar -xzf "$tgz" -C "$tmp" "$ORT_MEMBER" || die "the archive has no $ORT_MEMBER"
  got=$(sha256sum "$tmp/$ORT_MEMBER" | cut -d' ' -f1)
  [ "$got" = "$ORT_SHA256" ] || die "SHA-256 of $ORT_MEMBER is $got, expected $ORT_SHA256: refusing to use it"
  mkdir -p "$dest_dir" "$cache_dir"
  cp "$tmp/$ORT_MEMBER" "$dest.tmp" && mv "$dest.tmp" "$dest"
  cp "$tmp/$ORT_MEMBER" "$cached.tmp" && mv "$cached.tmp" "$cached" || say "warning: could not keep a copy in $cache_dir"
  say "installed ONNX Runtime $ORT_VERSION in $dest (sha256 ok)"
fi

if [ "$want_oracle" = 1 ]; then
  if /usr/bin/python3 -c 'import torch, torchvision, onnx' 2>/dev/null; then
    say "Debian's PyTorch, torchvision and onnx already installed"
  else
    [ "$(id -u)" = 0 ] || die "installing python3-torch needs root (apt-get)"
    say "installing python3-torch python3-torchvision python3-onnx with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq python3-torch python3-torchvision python3-onnx python3-numpy >/dev/null \
      || die "apt-get install python3-torch python3-torchvision python3-onnx failed"
    say "installed Debian's PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
  fi
fi
say "done"
