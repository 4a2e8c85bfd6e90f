{{- /*
NetworkPolicy rules shared by the policies of the API, migration and test pods.
*/ -}}

{{/*
NetworkPolicy egress rule to the cluster DNS: its pods (by namespace and labels) and any
addresses (NodeLocal DNSCache), on each DNS port over UDP and TCP.
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
    {{- range $dns.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range $dns.ports }}
    - port: {{ . }}
      protocol: UDP
    - port: {{ . }}
      protocol: TCP
    {{- end }}
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
    {{- range (include "tasks-api.databasePorts" . | fromJsonArray) }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end -}}

{{/*
The database ports the policies open: port and extraPorts. Rendering fails when a
database URL of the chart's Secret names a port that is not among them (the pods
could not reach their database under the policy).
*/}}
{{- define "tasks-api.databasePorts" -}}
{{- $db := .Values.networkPolicy.egress.database -}}
{{- $ports := list -}}
{{- range prepend ($db.extraPorts | default list) $db.port -}}
{{- $ports = append $ports (int .) -}}
{{- end -}}
{{- $ports = uniq $ports -}}
{{- range $name, $url := dict "secret.databaseUrl" .Values.secret.databaseUrl "secret.migrationDatabaseUrl" .Values.secret.migrationDatabaseUrl -}}
{{- if $url -}}
{{- $found := regexFind ":[0-9]+$" (urlParse $url).host | trimPrefix ":" -}}
{{- $port := $found | default "5432" | atoi -}}
{{- if not (has $port $ports) -}}
{{- fail (printf "networkPolicy.egress.database: %s uses port %d, which the policy does not open (port %v, extraPorts %v): add it to networkPolicy.egress.database.extraPorts" $name $port $db.port ($db.extraPorts | default list)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $ports -}}
{{- end -}}
