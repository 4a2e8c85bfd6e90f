{{- /*
The image reference of every container of the chart.
*/ -}}

{{/*
Image reference. The tag may already carry "@sha256:..." (skaffold renders
"<tag>@<digest>", and "<tag>@" when it has no digest), so a trailing "@" is dropped.
*/}}
{{- define "tasks-api.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString | trimSuffix "@" -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag must not be \"latest\": pin a version (or a digest)" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}
