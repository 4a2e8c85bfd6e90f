{{- /*
Pod-spec parts shared by the pods that run the service: grace period, writable
volumes and their mounts, scheduling.
*/ -}}

{{/*
Termination grace period: drain delay + graceful timeout + buffer, or an explicit
value that must exceed drain delay + graceful timeout.
*/}}
{{- define "tasks-api.terminationGracePeriodSeconds" -}}
{{- $needed := add .Values.config.drainDelaySeconds .Values.config.gracefulTimeoutSeconds -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $needed .Values.terminationGraceBufferSeconds -}}
{{- else if le (int .Values.terminationGracePeriodSeconds) (int $needed) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed config.drainDelaySeconds + config.gracefulTimeoutSeconds (%v)" .Values.terminationGracePeriodSeconds $needed) -}}
{{- else -}}
{{- .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/*
volumeMounts of a container that runs the service: the read-only root filesystem leaves
/tmp and the Prometheus multiprocess directory (PROMETHEUS_MULTIPROC_DIR) as the only
writable paths.
*/}}
{{- define "tasks-api.volumeMounts" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: metrics
    mountPath: /run/tasks-api/metrics
  {{- with .Values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
volumes of a pod that runs the service, matching tasks-api.volumeMounts.
*/}}
{{- define "tasks-api.volumes" -}}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpDirSizeLimit }}
  # Prometheus multiprocess files of the gunicorn workers; fresh per pod.
  - name: metrics
    emptyDir:
      sizeLimit: {{ .Values.metricsDirSizeLimit }}
  {{- with .Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
Scheduling keys of a pod: nodeSelector and tolerations for every pod of the chart, and
affinity where asked. Call with (dict "root" $ "affinity" BOOL) and pipe through trim.
*/}}
{{- define "tasks-api.scheduling" -}}
{{- $values := .root.Values -}}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $affinity := ternary $values.affinity (.ownAffinity | default dict) (eq .affinity true) }}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
replicas of the Deployment: replicaCount, unless an autoscaler (HPA or KEDA) owns the
count. Then the live Deployment's count is rendered: dropping the field would make Helm's
three-way merge delete it and Kubernetes reset the Deployment to 1 replica until the
autoscaler reacts. Nothing is rendered where there is no live object (first install) or
no cluster to look at (helm template, Argo CD: see the chart README). Call with
(dict "root" $ "live" (lookup "apps/v1" "Deployment" NAMESPACE NAME)).
*/}}
{{- define "tasks-api.replicas" -}}
{{- $autoscaling := .root.Values.autoscaling -}}
{{- if not (or $autoscaling.enabled $autoscaling.keda.enabled) -}}
{{- .root.Values.replicaCount -}}
{{- else if and .live .live.spec (hasKey .live.spec "replicas") -}}
{{- .live.spec.replicas | int -}}
{{- end -}}
{{- end -}}

{{/*
PromQL of the service's API request rate for this release, summed over its pods.
*/}}
{{- define "tasks-api.requestRateQuery" -}}
{{- printf "sum(rate(http_requests_total{namespace=%q, service=%q, handler=~\"/api/.*\"}[2m]))" .Release.Namespace (include "tasks-api.fullname" .) -}}
{{- end -}}
