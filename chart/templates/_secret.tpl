{{- /*
The Secrets the service reads: their names and, when the chart makes them, their data.
*/ -}}

{{/*
Name of the Secret read by the Deployment.
*/}}
{{- define "tasks-api.secretName" -}}
{{- default (include "tasks-api.fullname" .) .Values.secret.existingSecret -}}
{{- end -}}

{{/*
Name of the Secret read by the migration Job. With existingSecret it is that Secret;
otherwise a hook Secret created just before the Job, because at pre-install time the
release's regular Secret does not exist yet.
*/}}
{{- define "tasks-api.migrationSecretName" -}}
{{- if .Values.secret.existingSecret -}}
{{- .Values.secret.existingSecret -}}
{{- else -}}
{{- printf "%s-migrate" (include "tasks-api.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
Secret data (base64) shared by the regular and the hook Secret; fails early on
missing or weak values so that a release never starts with a rejected secret.
*/}}
{{- define "tasks-api.secretData" -}}
{{- $url := required "secret.databaseUrl is required (or set secret.existingSecret)" .Values.secret.databaseUrl -}}
{{- $jwt := required "secret.jwtSecret is required (or set secret.existingSecret)" .Values.secret.jwtSecret -}}
{{- if lt (len $jwt) 32 -}}
{{- fail "secret.jwtSecret must be at least 32 bytes long" -}}
{{- end -}}
DATABASE_URL: {{ $url | b64enc | quote }}
JWT_SECRET: {{ $jwt | b64enc | quote }}
{{- end -}}
