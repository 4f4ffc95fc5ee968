{{/* Names and labels. */}}
{{- define "auth-service.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "auth-service.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "auth-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "auth-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "auth-service.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "auth-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: spinroute
{{- end -}}

{{- define "auth-service.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "auth-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "auth-service.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "auth-service.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "auth-service.fullname" .)) -}}
{{- end -}}

{{- define "auth-service.databaseSecretName" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else if or .Values.database.url .Values.postgresql.enabled -}}
{{- printf "%s-database" (include "auth-service.fullname" .) -}}
{{- else -}}
{{- fail "set database.existingSecret, database.url or postgresql.enabled: the image always needs DATABASE_URL" -}}
{{- end -}}
{{- end -}}

{{- define "auth-service.postgresqlName" -}}
{{- printf "%s-postgresql" (include "auth-service.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The migration hook runs before install only when all it needs exists before the release. */}}
{{- define "auth-service.migrationHook" -}}
{{- if and .Values.secrets.existingSecret .Values.database.existingSecret (not .Values.postgresql.enabled) -}}
pre-install,pre-upgrade
{{- else -}}
post-install,pre-upgrade
{{- end -}}
{{- end -}}

{{/* Shutdown timing: preStop sleep, then SHUTDOWN_DRAIN_SECONDS of /ready answering 503, then
     up to 20 s of uvicorn's graceful shutdown, all within the termination grace period. */}}
{{- define "auth-service.checkShutdownTiming" -}}
{{- $drain := .Values.config.SHUTDOWN_DRAIN_SECONDS | default 0 | float64 -}}
{{- $needed := addf .Values.preStopSleepSeconds $drain 20 -}}
{{- if ge $needed (float64 .Values.terminationGracePeriodSeconds) -}}
{{- fail (printf "preStopSleepSeconds (%v) + config.SHUTDOWN_DRAIN_SECONDS (%v) + 20 s of graceful shutdown must be less than terminationGracePeriodSeconds (%v)" .Values.preStopSleepSeconds $drain .Values.terminationGracePeriodSeconds) -}}
{{- end -}}
{{- end -}}

{{/* Settings, secrets and DATABASE_URL for every auth-service container. */}}
{{- define "auth-service.env" -}}
{{- range $name, $value := .Values.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $name := list "BETTER_AUTH_SECRET" "API_GATEWAY_SECRET" "INTERNAL_SERVICE_SECRET" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "auth-service.secretName" $ }}
      key: {{ $name }}
{{- end }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "auth-service.databaseSecretName" . }}
      key: DATABASE_URL
{{- end -}}
