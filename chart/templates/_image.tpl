{{- /*
The image reference of every container of the chart.
*/ -}}

{{/*
Image reference. The tag may already carry "@sha256:..." (skaffold renders
"<tag>@<digest>", and "<tag>@" when it has no digest), so a trailing "@" is dropped.
image.digest always applies; image.appVersionDigest (the release's digest of the
appVersion image) only while the tag is the appVersion, so that overriding the tag
alone pulls the new tag rather than the old image by digest.
*/}}
{{- define "tasks-api.image" -}}
{{- $image := .Values.image -}}
{{- $tag := $image.tag | default .Chart.AppVersion | toString | trimSuffix "@" -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag must not be \"latest\": pin a version (or a digest)" -}}
{{- end -}}
{{- $digest := $image.digest -}}
{{- if and (not $digest) (eq $tag (toString .Chart.AppVersion)) -}}
{{- $digest = $image.appVersionDigest -}}
{{- end -}}
{{- if $digest -}}
{{- printf "%s:%s@%s" $image.repository $tag $digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository $tag -}}
{{- end -}}
{{- end -}}
