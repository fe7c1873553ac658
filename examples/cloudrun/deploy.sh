#!/usr/bin/env bash
# Deploy a new revision of the service at 0 % under a tag, then let tether roll it out.
#
#   PROJECT=my-project REGION=europe-west1 ./deploy.sh            # build, deploy, roll out
#   BUILD=abc123 SKIP_BUILD=1 ./deploy.sh                         # an image already pushed
#
# The revision is named SERVICE-b-BUILD explicitly: that name is the tether version its
# instances run (K_REVISION), known before the deploy. The rollout's controller runs in the
# service's own executors; this script only starts it (it needs TETHER_DATABASE_URL, e.g.
# through the Cloud SQL Auth Proxy, see README.md).
set -euo pipefail

: "${PROJECT:?set PROJECT to the Google Cloud project}"
: "${REGION:?set REGION, e.g. europe-west1}"
SERVICE=${SERVICE:-agent}
REPO=${REPO:-tether}
BUILD=${BUILD:-$(git rev-parse --short=8 HEAD)}
PLAN=${PLAN:-rollout.toml}
STEPS=${STEPS:-}
BAKE=${BAKE:-}
export TETHER_APP_NAME=${TETHER_APP_NAME:-$SERVICE}

BUILD=$(tr '[:upper:]_.' '[:lower:]--' <<<"$BUILD")
SUFFIX="b-${BUILD}"
REVISION="${SERVICE}-${SUFFIX}"
TAG="v-${BUILD}"
IMAGE="${REGION}-docker.pkg.dev/${PROJECT}/${REPO}/${SERVICE}:${BUILD}"
here=$(cd "$(dirname "$0")" && pwd)

if [[ -z ${SKIP_BUILD:-} ]]; then
  gcloud builds submit "$here" --project "$PROJECT" --tag "$IMAGE"
fi

if ! gcloud run services describe "$SERVICE" --project "$PROJECT" --region "$REGION" \
  --format 'value(metadata.name)' >/dev/null 2>&1; then
  echo "service $SERVICE does not exist: create it from service.yaml first (see README.md)" >&2
  exit 2
fi

# The new revision gets no traffic and a tag (its own URL, which wakes it); traffic stays
# pinned to the revisions named in the service, so nothing moves until the rollout.
gcloud run deploy "$SERVICE" \
  --project "$PROJECT" --region "$REGION" \
  --image "$IMAGE" \
  --revision-suffix "$SUFFIX" \
  --no-traffic --tag "$TAG" \
  --no-cpu-throttling

args=(rollout start "$REVISION" --plan "$here/$PLAN" --rollout-id "rollout-$REVISION"
  --platform cloudrun --project "$PROJECT" --region "$REGION" --service "$SERVICE")
[[ -n $STEPS ]] && args+=(--steps "$STEPS")
[[ -n $BAKE ]] && args+=(--bake "$BAKE")
tether "${args[@]}"

echo "watch it:    tether rollout status rollout-$REVISION --watch"
echo "approve:     tether rollout approve rollout-$REVISION"
echo "roll back:   tether rollout abort rollout-$REVISION"
