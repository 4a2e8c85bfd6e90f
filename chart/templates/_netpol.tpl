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
    - port: {{ $db.port }}
      protocol: TCP
{{- end -}}
