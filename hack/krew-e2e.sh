#!/usr/bin/env bash
# Offline krew install test: render the krew manifest for the local dist
# archives, validate it, install the plugin with the pinned krew into a
# temporary KREW_ROOT, and run it through kubectl's plugin discovery.
# Needs `make dist` first (Makefile target krew-e2e does both).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.cache/tools"
RIG_BIN="${ACKNET_RIG_BIN:-$ROOT/.cache/rig/bin}"
DIST="$ROOT/dist"

archive="$(ls "$DIST"/kubectl-acknet_*_linux_amd64.tar.gz)"
version="$(basename "$archive" | sed -e 's/^kubectl-acknet_//' -e 's/_linux_amd64.tar.gz$//')"
(cd "$ROOT" && go run ./hack/krewrender -version "$version" -dist "$DIST") >"$DIST/acknet.yaml"
# -skip-install: the validator would download every platform's archive; the
# install below uses the local linux/amd64 one instead.
"$TOOLS/validate-krew-manifest" -manifest "$DIST/acknet.yaml" -skip-install

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$TOOLS/krew" "$work/bin/kubectl-krew"
ln -s "$RIG_BIN/kubectl" "$work/bin/kubectl"
export KREW_ROOT="$work/krew" HOME="$work" PATH="$work/krew/bin:$work/bin:/usr/bin:/bin"

echo "+ kubectl krew install --manifest=dist/acknet.yaml --archive=$(basename "$archive")"
kubectl krew install --manifest="$DIST/acknet.yaml" --archive="$archive"
echo "+ kubectl plugin list"
kubectl plugin list 2>/dev/null | grep acknet
echo "+ kubectl acknet version"
out="$(kubectl acknet version)"
echo "$out"
[[ "$out" == "kubectl-acknet $version "* ]] || {
	echo "krew-e2e: unexpected version output" >&2
	exit 1
}
echo "+ kubectl acknet doctor --list-checks"
checks="$(kubectl acknet doctor --list-checks)"
printf '%s\n' "$checks" | sed -n '1,3p'
printf '%s\n' "$checks" | grep -q '^terway.in-cluster-lb ' || {
	echo "krew-e2e: --list-checks lacks terway.in-cluster-lb" >&2
	exit 1
}
echo "krew-e2e: ok"
