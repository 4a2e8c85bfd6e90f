{{- /*
Security contexts of every pod and container of the chart.
*/ -}}

{{/*
Pod-level security context of every pod of the chart (API, migration Job, helm test
pods): the "restricted" Pod Security Standard with the image's numeric user.
*/}}
{{- define "tasks-api.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Container-level security context of every container of the chart.
*/}}
{{- define "tasks-api.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}
