{{- /*
The Secrets the service reads: where DATABASE_URL and JWT_SECRET come from (existing
Secrets, or Secrets the chart makes), and the data of the chart-made ones.
*/ -}}

{{/*
Name of the release's own Secret, read by the Deployment when the chart makes it.
*/}}
{{- define "tasks-api.secretName" -}}
{{- include "tasks-api.fullname" . -}}
{{- end -}}

{{/*
Name of the hook Secret read by the migration Job: at pre-install time the release's
regular Secret does not exist yet, so the Job gets a copy created just before it.
*/}}
{{- define "tasks-api.migrationSecretName" -}}
{{- printf "%s-migrate" (include "tasks-api.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Existing Secret of DATABASE_URL, or "" when the chart makes it.
*/}}
{{- define "tasks-api.databaseExistingSecret" -}}
{{- or .Values.secret.databaseExistingSecret .Values.secret.existingSecret "" -}}
{{- end -}}

{{/*
Existing Secret of JWT_SECRET, or "" when the chart makes it.
*/}}
{{- define "tasks-api.jwtExistingSecret" -}}
{{- or .Values.secret.jwtExistingSecret .Values.secret.existingSecret "" -}}
{{- end -}}

{{/*
"true" when the chart makes a Secret (some value does not come from an existing one).
*/}}
{{- define "tasks-api.chartMakesSecret" -}}
{{- if not (and (include "tasks-api.databaseExistingSecret" .) (include "tasks-api.jwtExistingSecret" .)) -}}
true
{{- end -}}
{{- end -}}

{{/*
The secretKeyRef env entries of DATABASE_URL and JWT_SECRET. Call with
(dict "root" $ "migration" BOOL): the migration Job reads the hook Secret instead of the
release's one, and migrationExistingSecret / existingSecretKeys.migrationDatabaseUrl
when they are set.
*/}}
{{- define "tasks-api.secretEnv" -}}
{{- $s := .root.Values.secret -}}
{{- $keys := $s.existingSecretKeys -}}
{{- $own := ternary (include "tasks-api.migrationSecretName" .root) (include "tasks-api.secretName" .root) .migration -}}
{{- $dbName := include "tasks-api.databaseExistingSecret" .root -}}
{{- $dbKey := $keys.databaseUrl -}}
{{- if and .migration $keys.migrationDatabaseUrl -}}
{{- $dbKey = $keys.migrationDatabaseUrl -}}
{{- end -}}
{{- if and .migration $s.migrationExistingSecret -}}
{{- $dbName = $s.migrationExistingSecret -}}
{{- else if not $dbName -}}
{{- $dbName = $own -}}
{{- $dbKey = "DATABASE_URL" -}}
{{- end -}}
{{- $jwtName := include "tasks-api.jwtExistingSecret" .root | default $own -}}
{{- $jwtKey := ternary "JWT_SECRET" $keys.jwtSecret (eq $jwtName $own) -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $dbName }}
      key: {{ $dbKey }}
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $jwtName }}
      key: {{ $jwtKey }}
{{- end -}}

{{/*
Secret data (base64) shared by the regular and the hook Secret: the values that no
existing Secret provides. Fails early on missing or weak values so that a release never
starts with a rejected secret.
*/}}
{{- define "tasks-api.secretData" -}}
{{- if not (include "tasks-api.databaseExistingSecret" .) }}
{{- $url := required "secret.databaseUrl is required (or set secret.existingSecret or secret.databaseExistingSecret)" .Values.secret.databaseUrl }}
DATABASE_URL: {{ $url | b64enc | quote }}
{{- end }}
{{- if not (include "tasks-api.jwtExistingSecret" .) }}
{{- $jwt := required "secret.jwtSecret is required (or set secret.existingSecret or secret.jwtExistingSecret)" .Values.secret.jwtSecret }}
{{- if lt (len $jwt) 32 }}
{{- fail "secret.jwtSecret must be at least 32 bytes long" }}
{{- end }}
JWT_SECRET: {{ $jwt | b64enc | quote }}
{{- end }}
{{- end -}}

{{/*
What the pods' secret checksum covers: the chart-made data, and which existing Secrets
and keys are read (their content is outside the chart's view).
*/}}
{{- define "tasks-api.secretChecksum" -}}
{{- $s := .Values.secret -}}
{{- $external := list (include "tasks-api.databaseExistingSecret" .) (include "tasks-api.jwtExistingSecret" .) $s.migrationExistingSecret (toJson $s.existingSecretKeys) -}}
{{- if include "tasks-api.chartMakesSecret" . -}}
{{- $data := include "tasks-api.secretData" . | trim -}}
{{- if or (include "tasks-api.databaseExistingSecret" .) (include "tasks-api.jwtExistingSecret" .) -}}
{{- printf "%s\nexisting:%s" $data (join "," $external) | sha256sum -}}
{{- else -}}
{{- $data | sha256sum -}}
{{- end -}}
{{- else -}}
{{- printf "existing:%s" (join "," $external) | sha256sum -}}
{{- end -}}
{{- end -}}
