{{- /*
Security contexts of every pod and container of the chart.
*/ -}}

{{/*
A security context from its values, which Helm has already merged over the restricted
defaults of values.yaml (a user's null deletes a default key there). Keys still null are
left out, and with openshift.enabled so are the ids, which the restricted-v2 SCC assigns.
Call with (dict "values" MAP "openshift" BOOL "ids" LIST).
*/}}
{{- define "tasks-api.mergedSecurityContext" -}}
{{- $out := dict -}}
{{- range $key, $value := .values -}}
{{- if not (kindIs "invalid" $value) -}}
{{- $_ := set $out $key $value -}}
{{- end -}}
{{- end -}}
{{- if .openshift -}}
{{- range .ids -}}
{{- $_ := unset $out . -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Pod-level security context of every pod of the chart (API, migration Job, helm test pods).
*/}}
{{- define "tasks-api.podSecurityContext" -}}
{{- include "tasks-api.mergedSecurityContext" (dict "values" .Values.podSecurityContext "openshift" .Values.openshift.enabled "ids" (list "runAsUser" "runAsGroup" "fsGroup")) -}}
{{- end -}}

{{/*
Container-level security context of every container the chart defines.
*/}}
{{- define "tasks-api.containerSecurityContext" -}}
{{- include "tasks-api.mergedSecurityContext" (dict "values" .Values.securityContext "openshift" .Values.openshift.enabled "ids" (list "runAsUser" "runAsGroup")) -}}
{{- end -}}
