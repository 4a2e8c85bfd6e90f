{{- /*
The service's environment: the settings map (ConfigMap data) and the env / envFrom
of every container that runs the service (API, migration Job, purge CronJob).
*/ -}}

{{/*
Non-secret environment of the service, as a flat map of strings. The ConfigMap holds
it for the Deployment; the migration Job renders it inline because it runs (as a
pre-install hook) before the ConfigMap exists.
*/}}
{{- define "tasks-api.configData" -}}
{{- $c := .Values.config -}}
ENVIRONMENT: {{ .Values.environment | quote }}
HOST: {{ $c.host | quote }}
PORT: "8000"
METRICS_PORT: "9000"
PROMETHEUS_MULTIPROC_DIR: "/run/tasks-api/metrics"
LOG_LEVEL: {{ $c.logLevel | quote }}
LOG_FORMAT: {{ $c.logFormat | quote }}
{{- if not (kindIs "invalid" $c.docsEnabled) }}
DOCS_ENABLED: {{ $c.docsEnabled | toString | quote }}
{{- end }}
CORS_ORIGINS: {{ $c.corsOrigins | quote }}
WEB_CONCURRENCY: {{ $c.webConcurrency | toString | quote }}
DB_POOL_SIZE: {{ $c.dbPoolSize | toString | quote }}
DB_MAX_OVERFLOW: {{ $c.dbMaxOverflow | toString | quote }}
DB_POOL_TIMEOUT_SECONDS: {{ $c.dbPoolTimeoutSeconds | toString | quote }}
DB_CONNECT_TIMEOUT_SECONDS: {{ $c.dbConnectTimeoutSeconds | toString | quote }}
DB_STATEMENT_TIMEOUT_MS: {{ $c.dbStatementTimeoutMs | toString | quote }}
DB_PGBOUNCER: {{ $c.dbPgbouncer | toString | quote }}
JWT_ISSUER: {{ $c.jwtIssuer | quote }}
JWT_AUDIENCE: {{ $c.jwtAudience | quote }}
ACCESS_TOKEN_TTL_SECONDS: {{ $c.accessTokenTtlSeconds | toString | quote }}
REFRESH_TOKEN_TTL_SECONDS: {{ $c.refreshTokenTtlSeconds | toString | quote }}
DRAIN_DELAY_SECONDS: {{ $c.drainDelaySeconds | toString | quote }}
GRACEFUL_TIMEOUT_SECONDS: {{ $c.gracefulTimeoutSeconds | toString | quote }}
MAX_REQUESTS: {{ $c.maxRequests | toString | quote }}
MAX_REQUESTS_JITTER: {{ $c.maxRequestsJitter | toString | quote }}
KEEPALIVE_SECONDS: {{ $c.keepaliveSeconds | toString | quote }}
KEEPALIVE_MAX_REQUESTS: {{ $c.keepaliveMaxRequests | toString | quote }}
REQUEST_BODY_LIMIT_BYTES: {{ $c.requestBodyLimitBytes | toString | quote }}
REQUEST_HEADER_LIMIT_BYTES: {{ $c.requestHeaderLimitBytes | toString | quote }}
REQUEST_HEADER_COUNT_LIMIT: {{ $c.requestHeaderCountLimit | toString | quote }}
FORWARDED_ALLOW_IPS: {{ $c.forwardedAllowIps | quote }}
{{- if not (kindIs "invalid" $c.maxInFlight) }}
MAX_IN_FLIGHT: {{ $c.maxInFlight | toString | quote }}
{{- end }}
SHED_LOOP_LAG_MS: {{ $c.shedLoopLagMs | toString | quote }}
HSTS_ENABLED: {{ $c.hstsEnabled | toString | quote }}
HSTS_MAX_AGE_SECONDS: {{ $c.hstsMaxAgeSeconds | toString | quote }}
PASSWORD_HASH_CONCURRENCY: {{ $c.passwordHashConcurrency | toString | quote }}
PASSWORD_HASH_MAX_WAITING: {{ $c.passwordHashMaxWaiting | toString | quote }}
LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: {{ $c.loginMaxFailuresPerAccountAddress | toString | quote }}
LOGIN_MAX_FAILURES_PER_ADDRESS: {{ $c.loginMaxFailuresPerAddress | toString | quote }}
LOGIN_MAX_FAILURES_PER_ACCOUNT: {{ $c.loginMaxFailuresPerAccount | toString | quote }}
REGISTRATION_MAX_PER_ADDRESS: {{ $c.registrationMaxPerAddress | toString | quote }}
{{- if and $c.drillsEnabled (eq (toString .Values.environment) "production") (not $c.drillsAllowProduction) }}
{{- fail "config.drillsEnabled is refused with environment production unless config.drillsAllowProduction is true" }}
{{- end }}
DRILLS_ENABLED: {{ $c.drillsEnabled | toString | quote }}
DRILLS_ALLOW_PRODUCTION: {{ $c.drillsAllowProduction | toString | quote }}
DRILLS_MAX_DURATION_SECONDS: {{ $c.drillsMaxDurationSeconds | toString | quote }}
{{- $o := .Values.otel }}
OTEL_SERVICE_NAME: {{ default "tasks-api" $o.serviceName | quote }}
{{- if $o.endpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ $o.endpoint | quote }}
{{- end }}
OTEL_EXPORTER_OTLP_PROTOCOL: {{ $o.protocol | quote }}
OTEL_TRACES_SAMPLER: {{ $o.sampler | quote }}
OTEL_TRACES_SAMPLER_ARG: {{ $o.samplerArg | toString | quote }}
{{- /* service.namespace names a group of services (a team, a product), never the
Kubernetes namespace (k8s.namespace.name, from the Downward API): set it in
otel.resourceAttributes if you use one. */}}
{{- $attrs := list (printf "deployment.environment.name=%s" .Values.environment) }}
{{- range $k, $v := $o.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k $v) }}
{{- end }}
OTEL_RESOURCE_ATTRIBUTES: {{ join "," $attrs | quote }}
{{- range $k, $v := $o.extraEnv }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/*
Environment of the migration Job, as a flat map of strings: what `tasks-api migrate`
reads (service.config.MigrationSettings), nothing serve-only. The API's statement and
pool timeouts do not apply to migrations; MIGRATION_* bound the lock waits instead.
*/}}
{{- define "tasks-api.migrationConfigData" -}}
{{- $c := .Values.config -}}
{{- $m := .Values.migrations -}}
{{- if ge (float64 $m.lockTimeoutSeconds) (float64 $m.activeDeadlineSeconds) }}
{{- fail "migrations.lockTimeoutSeconds must be below migrations.activeDeadlineSeconds, so that a Job waiting for another migration fails with its own message before its deadline" }}
{{- end -}}
ENVIRONMENT: {{ .Values.environment | quote }}
LOG_LEVEL: {{ $c.logLevel | quote }}
LOG_FORMAT: {{ $c.logFormat | quote }}
DB_CONNECT_TIMEOUT_SECONDS: {{ $c.dbConnectTimeoutSeconds | toString | quote }}
DB_PGBOUNCER: {{ $c.dbPgbouncer | toString | quote }}
MIGRATION_LOCK_TIMEOUT_SECONDS: {{ $m.lockTimeoutSeconds | toString | quote }}
MIGRATION_DDL_LOCK_TIMEOUT_MS: {{ $m.ddlLockTimeoutMs | toString | quote }}
{{- end -}}

{{/*
Environment of the purge CronJob, as a flat map of strings: what `tasks-api purge` reads
(service.config.PurgeSettings), nothing serve-only and no JWT key.
*/}}
{{- define "tasks-api.purgeConfigData" -}}
{{- $c := .Values.config -}}
{{- $p := .Values.purge -}}
{{- if ge (float64 $p.maxSeconds) (float64 $p.activeDeadlineSeconds) }}
{{- fail "purge.maxSeconds must be below purge.activeDeadlineSeconds, so that a run stops at its own bound, with its summary line, before the Job's deadline kills it" }}
{{- end -}}
ENVIRONMENT: {{ .Values.environment | quote }}
LOG_LEVEL: {{ $c.logLevel | quote }}
LOG_FORMAT: {{ $c.logFormat | quote }}
DB_CONNECT_TIMEOUT_SECONDS: {{ $c.dbConnectTimeoutSeconds | toString | quote }}
DB_PGBOUNCER: {{ $c.dbPgbouncer | toString | quote }}
PURGE_BATCH_SIZE: {{ $p.batchSize | toString | quote }}
PURGE_MAX_BATCHES: {{ $p.maxBatches | toString | quote }}
PURGE_MAX_SECONDS: {{ $p.maxSeconds | toString | quote }}
PURGE_GRACE_SECONDS: {{ $p.graceSeconds | toString | quote }}
{{- end -}}

{{/*
Downward API variables: the service turns them into k8s.* resource attributes. Call with
(dict "root" $ "migration" BOOL): the API pods also name their Deployment and container
(k8s.deployment.name, k8s.container.name), which the Downward API cannot give.
*/}}
{{- define "tasks-api.downwardEnv" -}}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_POD_UID
  valueFrom:
    fieldRef:
      fieldPath: metadata.uid
- name: K8S_NAMESPACE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- if not .migration }}
- name: K8S_DEPLOYMENT_NAME
  value: {{ include "tasks-api.fullname" .root | quote }}
- name: K8S_CONTAINER_NAME
  value: api
{{- end }}
{{- end -}}

{{/*
envFrom and env of a container that runs the service, as container keys. Call with
(dict "root" $ "migration" BOOL "purge" BOOL): the migration Job, a pre-install hook, runs
before the ConfigMap and the release's Secret exist, so it gets its own settings as values
(tasks-api.migrationConfigData) and reads the hook Secret (tasks-api.secretEnv). The purge
CronJob gets its own settings as values too (tasks-api.purgeConfigData: no serve-only
setting from the ConfigMap) and DATABASE_URL only. Every such container gets its
variables from this one definition.
*/}}
{{- define "tasks-api.containerEnv" -}}
{{- $root := .root -}}
{{- $ownSettings := or .migration .purge -}}
{{- if or (not $ownSettings) $root.Values.extraEnvFrom -}}
envFrom:
  {{- if not $ownSettings }}
  - configMapRef:
      name: {{ include "tasks-api.fullname" $root }}
  {{- end }}
  {{- with $root.Values.extraEnvFrom }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{ end -}}
env:
  {{- if $ownSettings }}
  {{- $data := "tasks-api.purgeConfigData" }}
  {{- if .migration }}
  {{- $data = "tasks-api.migrationConfigData" }}
  {{- end }}
  {{- range $name, $value := include $data $root | fromYaml }}
  - name: {{ $name }}
    value: {{ $value | toString | quote }}
  {{- end }}
  {{- end }}
  {{- include "tasks-api.secretEnv" (dict "root" $root "migration" .migration "purge" .purge) | nindent 2 }}
  {{- if not .purge }}
  {{- include "tasks-api.downwardEnv" (dict "root" $root "migration" .migration) | nindent 2 }}
  {{- end }}
  {{- with $root.Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
