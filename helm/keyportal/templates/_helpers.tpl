{{/* Chart name, overridable. */}}
{{- define "keyportal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: the release name, with the chart name appended unless the
release name already contains it. 63 characters at most (DNS label).
*/}}
{{- define "keyportal.fullname" -}}
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

{{- define "keyportal.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of an object that says its own app.kubernetes.io/component (the trial's stand-ins, the helm test pod). */}}
{{- define "keyportal.baseLabels" -}}
helm.sh/chart: {{ include "keyportal.chart" . }}
app.kubernetes.io/name: {{ include "keyportal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "keyportal.labels" -}}
helm.sh/chart: {{ include "keyportal.chart" . }}
{{ include "keyportal.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: the portal pods. (Request Secrets carry app.kubernetes.io/component=key-request
and managed-by=keyportal, so these never select them.)
*/}}
{{- define "keyportal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keyportal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: portal
{{- end }}

{{/* The worker pods: same release, their own component, so the portal's Service never selects them. */}}
{{- define "keyportal.workerSelectorLabels" -}}
app.kubernetes.io/name: {{ include "keyportal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end }}

{{- define "keyportal.workerLabels" -}}
helm.sh/chart: {{ include "keyportal.chart" . }}
{{ include "keyportal.workerSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "keyportal.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keyportal.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "keyportal.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The Lease the approval loop elects its leader with (lib/loop/lease.ts: "keyportal-loop"). The
Role grants get/update on this name only.
*/}}
{{- define "keyportal.leaseName" -}}
keyportal-loop
{{- end }}

{{/* Where users reach the portal: the value, or in a trial the port-forward's http://127.0.0.1:3000. */}}
{{- define "keyportal.publicUrl" -}}
{{- if .Values.trial.enabled }}{{ default "http://127.0.0.1:3000" .Values.portal.publicUrl }}{{ else }}{{ required "portal.publicUrl is required: where users reach the portal, e.g. https://keys.example.com" .Values.portal.publicUrl }}{{ end }}
{{- end }}

{{/* The trial's objects (templates/trial-*.yaml): its Secret and its two stand-in Services. */}}
{{- define "keyportal.trialName" -}}
{{- printf "%s-trial" (include "keyportal.fullname" .) | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/* Where the portal's pods find the trial's CA and certificates. */}}
{{- define "keyportal.trialDir" -}}
/etc/keyportal-trial
{{- end }}

{{/*
The namespace the key requests live in: apart from the release namespace, which holds the
portal's own credentials, so the Role that reads every Secret there reads nothing else.
*/}}
{{- define "keyportal.storeNamespace" -}}
{{- $ns := default (printf "%s-requests" .Release.Namespace) .Values.store.namespace }}
{{- if eq $ns .Release.Namespace }}
{{- fail (printf "store.namespace: %q is the release namespace; requests must live apart from the portal's own credentials (leave it empty for %q)" $ns (printf "%s-requests" .Release.Namespace)) }}
{{- end }}
{{- $ns }}
{{- end }}

{{/*
config.yaml as the portal reads it. The store lives in store.namespace (the pod's
KEYPORTAL_STORE_TYPE / KEYPORTAL_NAMESPACE say so too); a different namespace under config is an
error rather than a silent surprise, because the Role is granted only there.
*/}}
{{- define "keyportal.config" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- $store := get $config "store" | default dict }}
{{- if and (hasKey $store "type") (ne (toString (get $store "type")) "kubernetes") }}
{{- fail (printf "config.store.type: the chart runs the kubernetes store; got %q" (toString (get $store "type"))) }}
{{- end }}
{{- $storeNamespace := include "keyportal.storeNamespace" . }}
{{- if and (hasKey $store "namespace") (ne (toString (get $store "namespace")) $storeNamespace) }}
{{- fail (printf "config.store.namespace: requests live in store.namespace %q; got %q (set store.namespace instead)" $storeNamespace (toString (get $store "namespace"))) }}
{{- end }}
{{- include "keyportal.noSecrets" (list "config" $config) }}
{{- $_ := set $config "store" (dict "type" "kubernetes") }}
{{- if .Values.trial.enabled }}
{{- /* A trial: the stand-ins take the place of the gateway, the relay and the identity provider. */}}
{{- $trial := include "keyportal.trialName" . }}
{{- $gateway := get $config "gateway" | default dict }}
{{- $_ := set $config "gateway" (dict "type" "litellm" "baseUrl" (printf "https://%s-gateway:4000" $trial) "publicUrl" (get $gateway "publicUrl" | default (printf "https://%s-gateway:4000" $trial))) }}
{{- $mail := get $config "mail" | default dict }}
{{- $_ := set $config "mail" (dict "from" (get $mail "from" | default "Keyportal trial <keyportal@trial.invalid>") "keyDelivery" (get $mail "keyDelivery" | default "portal") "smtp" (dict "host" (printf "%s-smtp" $trial) "port" 2525 "security" "starttls" "caFile" (printf "%s/ca.crt" (include "keyportal.trialDir" .)))) }}
{{- $_ := set $config "auth" (dict "oidc" (dict "issuer" "http://127.0.0.1:9090" "clientId" "keyportal" "name" "Trial sign-in (any email, any password)")) }}
{{- $portal := get $config "portal" | default dict }}
{{- $_ := set $portal "trial" true }}
{{- $_ := set $config "portal" $portal }}
{{- else }}
{{- $gateway := get $config "gateway" | default dict }}
{{- if and (eq (toString (get $gateway "type" | default "litellm")) "litellm") (not (get $gateway "baseUrl")) }}
{{- fail "config.gateway.baseUrl is required: LiteLLM's admin API as the pods reach it, e.g. https://litellm.llm.svc:4000 (or switch trial.enabled on to try the chart without one)" }}
{{- end }}
{{- $mail := get $config "mail" | default dict }}
{{- if not (get $mail "from") }}
{{- fail "config.mail.from is required: the sender of the portal's mail, e.g. \"Keyportal <keyportal@example.com>\"" }}
{{- end }}
{{- if and (not (get $mail "outbox")) (not (dig "smtp" "host" "" $mail)) }}
{{- fail "config.mail.smtp.host is required: your mail relay, e.g. smtp.example.com (STARTTLS on 587 by default)" }}
{{- end }}
{{- end }}
{{- if .Values.metrics.enabled }}
{{- if eq (int .Values.metrics.port) 3000 }}
{{- fail "metrics.port: 3000 is the web server's port; pick another (the default is 9464)" }}
{{- end }}
{{- /* All interfaces: Prometheus scrapes the pod's address, not loopback. */}}
{{- $_ := set $config "metrics" (dict "port" (int .Values.metrics.port) "host" "0.0.0.0") }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
Refuses a secret typed into config (the portal would refuse it too, lib/config/load.ts): string
fields named like password, masterKey, token, ... anywhere in the tree. The message names the
field, never the value. Called with (list "<path>" <node>).
*/}}
{{- define "keyportal.noSecrets" -}}
{{- $path := index . 0 }}
{{- $node := index . 1 }}
{{- if kindIs "map" $node }}
{{- range $key, $value := $node }}
{{- $here := printf "%s.%s" $path $key }}
{{- if and (kindIs "string" $value) (regexMatch "(?i)^(master_?key|password|pass|secret|client_?secret|token|api_?key)$" $key) }}
{{- fail (printf "%s: secrets never go in config.yaml; put the value in the Secret named by secrets.existingSecret (see values.yaml)" $here) }}
{{- end }}
{{- include "keyportal.noSecrets" (list $here $value) }}
{{- end }}
{{- else if kindIs "slice" $node }}
{{- range $i, $value := $node }}
{{- include "keyportal.noSecrets" (list (printf "%s[%d]" $path $i) $value) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The environment both Deployments (web and worker) run with: where config.yaml is, the store's
namespace, the public URL, and the secrets from secrets.existingSecret.
*/}}
{{- define "keyportal.env" -}}
- name: NODE_ENV
  value: production
- name: PORT
  value: "3000"
- name: HOSTNAME
  value: "0.0.0.0"
- name: KEYPORTAL_CONFIG
  value: /etc/keyportal/config.yaml
- name: KEYPORTAL_STORE_TYPE
  value: kubernetes
- name: KEYPORTAL_NAMESPACE
  value: {{ include "keyportal.storeNamespace" . | quote }}
# The pod's name: the Lease holder identity starts with it (lib/loop/wiring.ts), so
# `kubectl get lease keyportal-loop` says which pod leads.
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: KEYPORTAL_PUBLIC_URL
  value: {{ include "keyportal.publicUrl" . | quote }}
- name: NEXTAUTH_URL
  value: {{ include "keyportal.publicUrl" . | quote }}
{{- if .Values.trial.enabled }}
# A trial: its own secrets, and its CA for the stand-ins' certificates (Node's fetch and SMTP).
{{- range list "GATEWAY_MASTER_KEY" "NEXTAUTH_SECRET" "OIDC_CLIENT_SECRET" }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ include "keyportal.trialName" $ | quote }}
      key: {{ . }}
{{- end }}
- name: NODE_EXTRA_CA_CERTS
  value: {{ include "keyportal.trialDir" . }}/ca.crt
{{- else }}
{{- with .Values.auth.oidc.issuer }}
- name: OIDC_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with .Values.auth.oidc.clientId }}
- name: OIDC_CLIENT_ID
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- $secret := .Values.secrets.existingSecret }}
{{- if $secret }}
{{- range $name, $key := .Values.secrets.keys }}
{{- /* A trial brings its own of these three. */}}
{{- if and $key (not (and $.Values.trial.enabled (has $name (list "GATEWAY_MASTER_KEY" "NEXTAUTH_SECRET" "OIDC_CLIENT_SECRET")))) }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret | quote }}
      key: {{ $key | quote }}
      optional: true
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end }}
