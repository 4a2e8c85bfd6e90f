{{- /*
Hook annotations (Helm or Argo CD) of the migration hooks and the helm test pods,
and the body of a test container.
*/ -}}

{{/*
Annotations of the migration hooks. "phase" is "prerequisite" (the hook Secret and the
migration NetworkPolicy) or "job": prerequisites get the lower weight (Helm) / wave
(Argo CD), so that the Job's pod finds its credentials and its egress already there,
also on the first install under a default-deny NetworkPolicy. Helm runs them as
pre-install,pre-upgrade hooks and removes the prerequisites once every hook succeeded;
the Job stays until the next hook run (migrations.deletePolicy), and Helm prints its
logs when it fails (hook-output-log-policy, Helm 3.18 and newer). Argo CD runs them as
PreSync hooks and replaces them at the next sync.
*/}}
{{- define "tasks-api.hookAnnotations" -}}
{{- $values := .root.Values -}}
{{- $prerequisite := eq .phase "prerequisite" -}}
{{- if $values.argocd.enabled -}}
argocd.argoproj.io/hook: PreSync
argocd.argoproj.io/sync-wave: {{ ternary "-10" "-5" $prerequisite | quote }}
argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
{{- else -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ ternary "-10" "-5" $prerequisite | quote }}
helm.sh/hook-delete-policy: {{ ternary "before-hook-creation,hook-succeeded" $values.migrations.deletePolicy $prerequisite }}
{{- if not $prerequisite }}
helm.sh/hook-output-log-policy: hook-failed
{{- end }}
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
