#!/bin/sh
# Runs a sharded ranking on Kubernetes: the Indexed Job, then the merge once every shard has
# finished. Usage: deploy/k8s/run.sh [kubectl flags, e.g. -n NAMESPACE]
set -eu
here=$(dirname "$0")
kubectl "$@" apply -f "$here/pvc.yaml"
kubectl "$@" delete job zerocost-rank zerocost-merge --ignore-not-found
kubectl "$@" apply -f "$here/rank-job.yaml"
# Complete, or Failed when a shard used up its retries: merge either way, and let merge say
# which models are missing.
until kubectl "$@" get job zerocost-rank -o jsonpath='{.status.conditions[?(@.status=="True")].type}' | grep -Eq 'Complete|Failed'; do
  sleep 10
done
kubectl "$@" apply -f "$here/merge-job.yaml"
kubectl "$@" wait --for=condition=complete --timeout=1h job/zerocost-merge || true
kubectl "$@" logs job/zerocost-merge
