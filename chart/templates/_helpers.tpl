{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "tasks-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full resource name: "<release>-tasks-api", or the release name alone when it already
contains the chart name.
*/}}
{{- define "tasks-api.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tasks-api.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels of the API pods. Other components (migrations, tests) add their own
app.kubernetes.io/component so that the API selector never matches them.
*/}}
{{- define "tasks-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tasks-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tasks-api.labels" -}}
helm.sh/chart: {{ include "tasks-api.chart" . }}
{{ include "tasks-api.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tasks-api
{{- end -}}

{{- define "tasks-api.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tasks-api.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

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

{{/*
Termination grace period: drain delay + graceful timeout + buffer, or an explicit
value that must exceed drain delay + graceful timeout.
*/}}
{{- define "tasks-api.terminationGracePeriodSeconds" -}}
{{- $needed := add .Values.config.drainDelaySeconds .Values.config.gracefulTimeoutSeconds -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $needed .Values.terminationGraceBufferSeconds -}}
{{- else if le (int .Values.terminationGracePeriodSeconds) (int $needed) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed config.drainDelaySeconds + config.gracefulTimeoutSeconds (%v)" .Values.terminationGracePeriodSeconds $needed) -}}
{{- else -}}
{{- .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/*
Non-secret environment of the service, as a flat map of strings. The ConfigMap holds
it for the Deployment; the migration Job renders it inline because it runs (as a
pre-install hook) before the ConfigMap exists.
*/}}
{{- define "tasks-api.configData" -}}
{{- $c := .Values.config -}}
ENVIRONMENT: {{ .Values.environment | quote }}
HOST: "0.0.0.0"
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
REQUEST_BODY_LIMIT_BYTES: {{ $c.requestBodyLimitBytes | toString | quote }}
PASSWORD_HASH_CONCURRENCY: {{ $c.passwordHashConcurrency | toString | quote }}
{{- $o := .Values.otel }}
OTEL_SERVICE_NAME: {{ default "tasks-api" $o.serviceName | quote }}
{{- if $o.endpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ $o.endpoint | quote }}
{{- end }}
OTEL_EXPORTER_OTLP_PROTOCOL: {{ $o.protocol | quote }}
OTEL_TRACES_SAMPLER: {{ $o.sampler | quote }}
OTEL_TRACES_SAMPLER_ARG: {{ $o.samplerArg | toString | quote }}
{{- $attrs := list (printf "deployment.environment.name=%s" .Values.environment) (printf "service.namespace=%s" .Release.Namespace) }}
{{- range $k, $v := $o.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k $v) }}
{{- end }}
OTEL_RESOURCE_ATTRIBUTES: {{ join "," $attrs | quote }}
{{- range $k, $v := $o.extraEnv }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/*
Downward API variables: the service turns them into k8s.* resource attributes.
*/}}
{{- define "tasks-api.downwardEnv" -}}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- end -}}

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

{{/*
NetworkPolicy egress rule to the cluster DNS.
*/}}
{{- define "tasks-api.dnsEgressRule" -}}
{{- $dns := .Values.networkPolicy.egress.dns -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $dns.namespace }}
      {{- with $dns.podLabels }}
      podSelector:
        matchLabels:
          {{- toYaml . | nindent 10 }}
      {{- end }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{/*
NetworkPolicy egress rule to PostgreSQL (CIDRs and/or peers).
*/}}
{{- define "tasks-api.databaseEgressRule" -}}
{{- $db := .Values.networkPolicy.egress.database -}}
- to:
    {{- range $db.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
    {{- with $db.peers }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - port: {{ $db.port }}
      protocol: TCP
{{- end -}}
