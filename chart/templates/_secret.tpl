{{- /*
The Secrets the service reads: where DATABASE_URL, JWT_SECRET and (with drills) DRILLS_TOKEN
come from (existing Secrets, or Secrets the chart makes), and the data of the chart-made ones.
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
Existing Secret of DRILLS_TOKEN, or "" when the chart makes it (read only with drills enabled):
secret.drillsExistingSecret, else the chart-made Secret when secret.drillsToken is given (a
staging release adding drills to credentials kept elsewhere), else secret.existingSecret.
*/}}
{{- define "tasks-api.drillsExistingSecret" -}}
{{- $s := .Values.secret -}}
{{- if $s.drillsExistingSecret -}}
{{- $s.drillsExistingSecret -}}
{{- else if not $s.drillsToken -}}
{{- $s.existingSecret -}}
{{- end -}}
{{- end -}}

{{/*
"true" when the chart makes DRILLS_TOKEN: drills are enabled and no existing Secret holds it.
*/}}
{{- define "tasks-api.chartMakesDrillsToken" -}}
{{- if and .Values.config.drillsEnabled (not (include "tasks-api.drillsExistingSecret" .)) -}}
true
{{- end -}}
{{- end -}}

{{/*
"true" when the chart makes a Secret (some value does not come from an existing one).
*/}}
{{- define "tasks-api.chartMakesSecret" -}}
{{- if or (not (and (include "tasks-api.databaseExistingSecret" .) (include "tasks-api.jwtExistingSecret" .))) (include "tasks-api.chartMakesDrillsToken" .) -}}
true
{{- end -}}
{{- end -}}

{{/*
Where the migration Job's MIGRATION_DATABASE_URL comes from, as YAML {name, key}, or
nothing when migrations use DATABASE_URL: secret.migrationExistingSecret (key
existingSecretKeys.migrationDatabaseUrl, else existingSecretKeys.databaseUrl), the
database's existing Secret under existingSecretKeys.migrationDatabaseUrl, or the hook
Secret when secret.migrationDatabaseUrl is given.
*/}}
{{- define "tasks-api.migrationUrlRef" -}}
{{- $s := .Values.secret -}}
{{- $keys := $s.existingSecretKeys -}}
{{- $dbExisting := include "tasks-api.databaseExistingSecret" . -}}
{{- if $s.migrationExistingSecret -}}
name: {{ $s.migrationExistingSecret }}
key: {{ $keys.migrationDatabaseUrl | default $keys.databaseUrl }}
{{- else if and $keys.migrationDatabaseUrl $dbExisting -}}
name: {{ $dbExisting }}
key: {{ $keys.migrationDatabaseUrl }}
{{- else if $s.migrationDatabaseUrl -}}
name: {{ include "tasks-api.migrationSecretName" . }}
key: MIGRATION_DATABASE_URL
{{- end -}}
{{- end -}}

{{/*
The secretKeyRef env entries of a container. Call with (dict "root" $ "migration" BOOL
"purge" BOOL). The API gets DATABASE_URL and JWT_SECRET. The migration Job gets
DATABASE_URL (from the hook Secret when the chart makes it: it runs before the release's
Secret exists) and MIGRATION_DATABASE_URL when one is configured, and never the JWT key:
`tasks-api migrate` needs database settings only. The purge CronJob gets DATABASE_URL
only (from the release's Secret: it is no hook).
*/}}
{{- define "tasks-api.secretEnv" -}}
{{- $s := .root.Values.secret -}}
{{- $keys := $s.existingSecretKeys -}}
{{- $own := ternary (include "tasks-api.migrationSecretName" .root) (include "tasks-api.secretName" .root) .migration -}}
{{- $dbName := include "tasks-api.databaseExistingSecret" .root | default $own -}}
{{- $dbKey := ternary "DATABASE_URL" $keys.databaseUrl (eq $dbName $own) -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $dbName }}
      key: {{ $dbKey }}
{{- if .migration }}
{{- with include "tasks-api.migrationUrlRef" .root | fromYaml }}
- name: MIGRATION_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
{{- end }}
{{- else if not .purge }}
{{- $jwtName := include "tasks-api.jwtExistingSecret" .root | default $own }}
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $jwtName }}
      key: {{ ternary "JWT_SECRET" $keys.jwtSecret (eq $jwtName $own) }}
{{- if .root.Values.config.drillsEnabled }}
{{- $drillsName := include "tasks-api.drillsExistingSecret" .root | default $own }}
- name: DRILLS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $drillsName }}
      key: {{ ternary "DRILLS_TOKEN" $keys.drillsToken (eq $drillsName $own) }}
{{- end }}
{{- end }}
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
{{- if include "tasks-api.chartMakesDrillsToken" . }}
{{- $drills := required "config.drillsEnabled needs secret.drillsToken (or secret.drillsExistingSecret or secret.existingSecret)" .Values.secret.drillsToken }}
{{- if lt (len $drills) 32 }}
{{- fail "secret.drillsToken must be at least 32 bytes long" }}
{{- end }}
{{- if eq $drills (toString .Values.secret.jwtSecret) }}
{{- fail "secret.drillsToken must differ from secret.jwtSecret" }}
{{- end }}
DRILLS_TOKEN: {{ $drills | b64enc | quote }}
{{- end }}
{{- end -}}

{{/*
Data (base64) of the migration Job's hook Secret: the chart-made DATABASE_URL and
secret.migrationDatabaseUrl; empty when both come from existing Secrets.
*/}}
{{- define "tasks-api.migrationSecretData" -}}
{{- if not (include "tasks-api.databaseExistingSecret" .) }}
{{- $url := required "secret.databaseUrl is required (or set secret.existingSecret or secret.databaseExistingSecret)" .Values.secret.databaseUrl }}
DATABASE_URL: {{ $url | b64enc | quote }}
{{- end }}
{{- $ref := include "tasks-api.migrationUrlRef" . | fromYaml }}
{{- if and .Values.secret.migrationDatabaseUrl (eq ($ref.name | toString) (include "tasks-api.migrationSecretName" .)) }}
MIGRATION_DATABASE_URL: {{ .Values.secret.migrationDatabaseUrl | b64enc | quote }}
{{- end }}
{{- end -}}

{{/*
What the pods' secret checksum covers: the chart-made data, and which existing Secrets
and keys are read (their content is outside the chart's view).
*/}}
{{- define "tasks-api.secretChecksum" -}}
{{- $s := .Values.secret -}}
{{- $external := list (include "tasks-api.databaseExistingSecret" .) (include "tasks-api.jwtExistingSecret" .) $s.migrationExistingSecret (toJson $s.existingSecretKeys) -}}
{{- if .Values.config.drillsEnabled -}}
{{- $external = append $external (include "tasks-api.drillsExistingSecret" .) -}}
{{- end -}}
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
