{{/* vim: set filetype=mustache: */}}

{{/* The chart name. */}}
{{- define "soma.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name: <release>-<chart> unless the release name already holds the chart name. */}}
{{- define "soma.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Names of the bundled backing services. */}}
{{- define "soma.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "soma.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "soma.redis.fullname" -}}
{{- printf "%s-redis" (include "soma.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "soma.qdrant.fullname" -}}
{{- printf "%s-qdrant" (include "soma.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "soma.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "soma.labels" -}}
helm.sh/chart: {{ include "soma.chart" . }}
app.kubernetes.io/name: {{ include "soma.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: somafractalmemory
{{- end }}

{{/* Selector labels; call with (dict "ctx" $ "component" "api"). */}}
{{- define "soma.selectorLabels" -}}
app.kubernetes.io/name: {{ include "soma.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of one component; call with (dict "ctx" $ "component" "api"). */}}
{{- define "soma.componentLabels" -}}
{{ include "soma.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "soma.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "soma.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The API image reference. */}}
{{- define "soma.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The Secret holding DJANGO_SECRET_KEY, SOMA_API_TOKEN, DATABASE_URL, ... */}}
{{- define "soma.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- include "soma.fullname" . }}
{{- end }}
{{- end }}

{{- define "soma.configMapName" -}}
{{- printf "%s-config" (include "soma.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* QDRANT_URL: the bundled Qdrant or externalQdrant.url. */}}
{{- define "soma.qdrantUrl" -}}
{{- if .Values.qdrant.enabled }}
{{- printf "http://%s:6333" (include "soma.qdrant.fullname" .) }}
{{- else }}
{{- .Values.externalQdrant.url }}
{{- end }}
{{- end }}

{{/* REDIS_URL of the bundled Redis (an external one lives in the Secret). */}}
{{- define "soma.redisUrl" -}}
{{- printf "redis://%s:6379/0" (include "soma.redis.fullname" .) }}
{{- end }}

{{/* ALLOWED_HOSTS without the pod IP (appended in the pod spec as $(POD_IP)). */}}
{{- define "soma.allowedHosts" -}}
{{- $fullname := include "soma.fullname" . }}
{{- $hosts := list $fullname (printf "%s.%s" $fullname .Release.Namespace) (printf "%s.%s.svc" $fullname .Release.Namespace) (printf "%s.%s.svc.cluster.local" $fullname .Release.Namespace) "localhost" "127.0.0.1" }}
{{- range .Values.ingress.hosts }}
{{- $hosts = append $hosts .host }}
{{- end }}
{{- range .Values.api.allowedHosts }}
{{- $hosts = append $hosts . }}
{{- end }}
{{- join "," (uniq $hosts) }}
{{- end }}

{{/* SOMA_NUM_PROXIES: config.numProxies, or 1 behind the chart's Ingress and 0 without it. */}}
{{- define "soma.numProxies" -}}
{{- if kindIs "invalid" .Values.config.numProxies -}}
{{- ternary 1 0 .Values.ingress.enabled -}}
{{- else -}}
{{- .Values.config.numProxies | int64 -}}
{{- end -}}
{{- end }}

{{/* The non-secret settings: the ConfigMap's data, also inlined into hook Jobs. */}}
{{- define "soma.configData" -}}
SOMA_ENV: {{ .Values.config.environment | quote }}
DJANGO_DEBUG: {{ .Values.config.debug | toString | quote }}
SOMA_BIND: {{ printf "0.0.0.0:%v" .Values.api.port | quote }}
SOMA_WORKERS: {{ .Values.api.workers | toString | quote }}
SOMA_DATA_DIR: {{ .Values.config.dataDir | quote }}
SOMA_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
SOMA_LOG_JSON: {{ .Values.config.logJson | toString | quote }}
SOMA_MAX_BODY_BYTES: {{ .Values.config.maxBodyBytes | int64 | toString | quote }}
SOMA_THROTTLE_KEY_RATE: {{ .Values.config.throttleKeyRate | quote }}
SOMA_THROTTLE_PUBLIC_RATE: {{ .Values.config.throttlePublicRate | quote }}
PROMETHEUS_MULTIPROC_DIR: {{ .Values.config.prometheusMultiprocDir | quote }}
SOMA_NUM_PROXIES: {{ include "soma.numProxies" . | quote }}
SOMA_TRUSTED_PROXIES: {{ .Values.config.trustedProxies | quote }}
SOMA_LOGIN_FAILURE_LIMIT: {{ .Values.config.loginFailureLimit | int64 | toString | quote }}
SOMA_LOGIN_LOCKOUT_SECONDS: {{ .Values.config.loginLockoutSeconds | int64 | toString | quote }}
SOMA_LOGIN_LOCKOUT_BY: {{ .Values.config.loginLockoutBy | quote }}
QDRANT_URL: {{ include "soma.qdrantUrl" . | quote }}
{{- if .Values.redis.enabled }}
REDIS_URL: {{ include "soma.redisUrl" . | quote }}
{{- end }}
{{- with .Values.config.embeddingModelDir }}
SOMA_EMBEDDING_MODEL_DIR: {{ . | quote }}
{{- end }}
{{- range $key, $value := .Values.config.extra }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* Environment of every app container (API, migrations, reindex): the pod IP for
     ALLOWED_HOSTS, and the secrets by key from the Secret. */}}
{{- define "soma.appEnv" -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: ALLOWED_HOSTS
  value: {{ printf "%s,$(POD_IP)" (include "soma.allowedHosts" .) | quote }}
- name: DJANGO_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "soma.secretName" . }}
      key: DJANGO_SECRET_KEY
- name: SOMA_API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "soma.secretName" . }}
      key: SOMA_API_TOKEN
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "soma.secretName" . }}
      key: DATABASE_URL
{{- if not .Values.redis.enabled }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "soma.secretName" . }}
      key: REDIS_URL
{{- end }}
- name: QDRANT_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "soma.secretName" . }}
      key: QDRANT_API_KEY
      optional: true
{{- with .Values.api.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Writable scratch space of the app containers (the root filesystem is read-only). */}}
{{- define "soma.appVolumes" -}}
- name: tmp
  emptyDir: {}
- name: data
  emptyDir: {}
- name: prometheus-multiproc
  emptyDir: {}
{{- with .Values.api.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "soma.appVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: {{ .Values.config.dataDir }}
- name: prometheus-multiproc
  mountPath: {{ .Values.config.prometheusMultiprocDir }}
{{- with .Values.api.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Hook events of the migration Job (see values.yaml migrations.hookEvents). */}}
{{- define "soma.migrationHookEvents" -}}
{{- if .Values.migrations.hookEvents }}
{{- .Values.migrations.hookEvents }}
{{- else if and (not .Values.postgresql.enabled) .Values.secrets.existingSecret }}
{{- "pre-install,pre-upgrade" }}
{{- else }}
{{- "post-install,pre-upgrade" }}
{{- end }}
{{- end }}

{{/* A volume claim template or an emptyDir for a bundled store; call with
     (dict "persistence" .Values.x.persistence). Renders volumeClaimTemplates only. */}}
{{- define "soma.volumeClaimTemplates" -}}
{{- if .persistence.enabled }}
volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes:
        {{- toYaml .persistence.accessModes | nindent 8 }}
      {{- with .persistence.storageClass }}
      storageClassName: {{ if eq . "-" }}""{{ else }}{{ . | quote }}{{ end }}
      {{- end }}
      resources:
        requests:
          storage: {{ .persistence.size | quote }}
{{- end }}
{{- end }}

{{/* Stop early, with a message, on values that cannot work. */}}
{{- define "soma.validate" -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.secrets.existingSecret) (not .Values.externalDatabase.url) }}
{{- fail "postgresql.enabled is false: set externalDatabase.url, or secrets.existingSecret with a DATABASE_URL key" }}
{{- end }}
{{- if and (not .Values.redis.enabled) (not .Values.secrets.existingSecret) (not .Values.externalRedis.url) }}
{{- fail "redis.enabled is false: set externalRedis.url, or secrets.existingSecret with a REDIS_URL key" }}
{{- end }}
{{- if and (not .Values.qdrant.enabled) (not .Values.externalQdrant.url) }}
{{- fail "qdrant.enabled is false: set externalQdrant.url" }}
{{- end }}
{{- end }}
