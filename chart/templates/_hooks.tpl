{{- /*
Hook annotations (Helm or Argo CD) of the migration hooks and the helm test pods,
and the body of a test container.
*/ -}}

{{/*
Annotations of the migration hooks. "phase" is "secret" or "job": the hook Secret
gets the lower weight (Helm) / wave (Argo CD) so it exists before the Job's pod.
Helm runs both as pre-install,pre-upgrade hooks; Argo CD as PreSync hooks. The
Secret is removed by Helm once the hooks succeeded; Argo CD keeps it (it holds the
same data as the regular Secret) until the next sync replaces it.
*/}}
{{- define "tasks-api.hookAnnotations" -}}
{{- $values := .root.Values -}}
{{- $isSecret := eq .phase "secret" -}}
{{- if $values.argocd.enabled -}}
argocd.argoproj.io/hook: PreSync
argocd.argoproj.io/sync-wave: {{ ternary "-10" "-5" $isSecret | quote }}
argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
{{- else -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ ternary "-10" "-5" $isSecret | quote }}
helm.sh/hook-delete-policy: {{ ternary "before-hook-creation,hook-succeeded" $values.migrations.deletePolicy $isSecret }}
{{- end -}}
{{- end -}}

{{/*
Annotations of the helm test pods: `helm test` hooks, or Argo CD PostSync hooks
(Argo CD does not run Helm test hooks), so that each sync ends with the smoke test.
*/}}
{{- define "tasks-api.testAnnotations" -}}
{{- if .Values.argocd.enabled -}}
argocd.argoproj.io/hook: PostSync
argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
{{- else -}}
helm.sh/hook: test
helm.sh/hook-delete-policy: before-hook-creation
{{- end -}}
{{- end -}}

{{/*
Body of a helm test container (after its name): the app image probing one URL.
*/}}
{{- define "tasks-api.testContainer" -}}
{{- $root := .root -}}
image: {{ include "tasks-api.image" $root | quote }}
imagePullPolicy: {{ $root.Values.image.pullPolicy }}
args: ["probe", {{ .url | quote }}, "--timeout", "5"]
resources:
  requests:
    cpu: 10m
    memory: 64Mi
  limits:
    cpu: 200m
    memory: 128Mi
securityContext:
  {{- include "tasks-api.containerSecurityContext" $root | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: metrics
    mountPath: /run/tasks-api/metrics
{{- end -}}
