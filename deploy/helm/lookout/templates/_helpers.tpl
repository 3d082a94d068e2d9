{{/*
Names, labels and the pieces of lookout's configuration that more than one template needs.

Paths inside the container (fixed, so the config can use paths relative to its own directory):
  /etc/lookout/lookout.yaml       the config (ConfigMap <fullname>)
  /etc/lookout/rules/<name>.yaml  rule files (ConfigMap <fullname>-rules)
  /etc/lookout/secrets/<key>      keys of notifications.existingSecret that the config names
  /var/lib/lookout                the data directory (hostPath or emptyDir)
All of /etc/lookout is one projected volume, so `rule_files: [rules/*.yaml]` and
`api_url_file: secrets/<key>` resolve against the config file's directory.
*/}}

{{- define "lookout.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lookout.fullname" -}}
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

{{- define "lookout.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "lookout.labels" -}}
helm.sh/chart: {{ include "lookout.chart" . }}
app.kubernetes.io/name: {{ include "lookout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lookout
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The agent pods' identity: the DaemonSet selector and the Service selector. Immutable. */}}
{{- define "lookout.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lookout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "lookout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lookout.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "lookout.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* The address given to --listen: host:port, an IPv6 host in brackets. */}}
{{- define "lookout.listen" -}}
{{- $host := .Values.agent.listenHost -}}
{{- if and (contains ":" $host) (not (hasPrefix "[" $host)) -}}
{{- $host = printf "[%s]" $host -}}
{{- end -}}
{{- printf "%s:%d" $host (int .Values.agent.port) -}}
{{- end -}}

{{/* Namespace of the Grafana ConfigMaps: grafana.namespace or the release's. */}}
{{- define "lookout.grafanaNamespace" -}}
{{- default .Release.Namespace .Values.grafana.namespace -}}
{{- end -}}

{{/* The Service URL Grafana's data sources use. */}}
{{- define "lookout.serviceURL" -}}
{{- printf "http://%s.%s.svc:%d" (include "lookout.fullname" .) .Release.Namespace (int .Values.service.port) -}}
{{- end -}}

{{/*
Rule files: a YAML map file name (without .yaml) -> file text. The chart's own rules about
lookout itself (files/rules/lookout-self.yaml) plus rules.files from values.
*/}}
{{- define "lookout.ruleFiles" -}}
{{- $files := dict -}}
{{- if .Values.rules.lookoutSelf -}}
{{- $_ := set $files "lookout-self" (.Files.Get "files/rules/lookout-self.yaml") -}}
{{- end -}}
{{- range $name, $content := .Values.rules.files -}}
{{- if hasKey $files $name -}}
{{- fail (printf "rules.files.%s: the name %q is taken by the chart's own rules (rules.lookoutSelf); pick another name" $name $name) -}}
{{- end -}}
{{- $_ := set $files $name (toYaml $content) -}}
{{- end -}}
{{- toYaml $files -}}
{{- end -}}

{{/*
Which field of each Alertmanager receiver config holds the file with the webhook URL.
*/}}
{{- define "lookout.urlFileFields" -}}
slack_configs: api_url_file
mattermost_configs: webhook_url_file
webhook_configs: url_file
discord_configs: webhook_url_file
msteamsv2_configs: webhook_url_file
{{- end -}}

{{/* Secret keys the config refers to, as a YAML map key -> true (empty when notifications are off). */}}
{{- define "lookout.secretKeys" -}}
{{- $keys := dict -}}
{{- $n := .Values.notifications -}}
{{- if $n.enabled -}}
{{- $fields := include "lookout.urlFileFields" . | fromYaml -}}
{{- range $r := $n.receivers -}}
{{- range $kind, $_f := $fields -}}
{{- range $c := (get $r $kind | default list) -}}
{{- $_ := set $keys $c.urlSecretKey true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $am := $n.alertmanagers -}}
{{- with $am.basic_auth }}{{ $_ := set $keys .passwordSecretKey true }}{{ end -}}
{{- with $am.authorization }}{{ $_ := set $keys .credentialsSecretKey true }}{{ end -}}
{{- end -}}
{{- end -}}
{{- toYaml $keys -}}
{{- end -}}

{{/* Fails unless every receiver a route names is defined. Argument: dict route, names, path. */}}
{{- define "lookout.checkRoute" -}}
{{- $route := .route -}}
{{- with $route.receiver -}}
{{- if not (has . $.names) -}}
{{- fail (printf "%s.receiver: no receiver named %q in notifications.receivers (have: %s)" $.path . (join ", " $.names)) -}}
{{- end -}}
{{- end -}}
{{- range $i, $sub := ($route.routes | default list) -}}
{{- include "lookout.checkRoute" (dict "route" $sub "names" $.names "path" (printf "%s.routes[%d]" $.path $i)) -}}
{{- end -}}
{{- end -}}

{{/*
The notification part of lookout's config (issue 7): Prometheus' `alerting.alertmanagers` for
the Alertmanager target list, and `notifications` holding an Alertmanager-format `route` and
`receivers`. Webhook URLs are never values: each receiver config names a key of
notifications.existingSecret (urlSecretKey), which becomes the receiver type's `*_file` field
pointing at the mounted key.
*/}}
{{- define "lookout.notificationConfig" -}}
{{- $n := .Values.notifications -}}
{{- $out := dict -}}
{{- if $n.enabled -}}
{{- $keys := include "lookout.secretKeys" . | fromYaml -}}
{{- if and $keys (not $n.existingSecret) -}}
{{- fail "notifications.existingSecret is required: receivers and Alertmanager credentials are read from keys of an existing Secret, never from values" -}}
{{- end -}}
{{- $fields := include "lookout.urlFileFields" . | fromYaml -}}
{{- $names := list -}}
{{- $receivers := list -}}
{{- range $r := $n.receivers -}}
{{- if has $r.name $names -}}
{{- fail (printf "notifications.receivers: receiver %q is defined twice" $r.name) -}}
{{- end -}}
{{- $names = append $names $r.name -}}
{{- $rcv := dict "name" $r.name -}}
{{- range $kind, $field := $fields -}}
{{- $items := list -}}
{{- range $c := (get $r $kind | default list) -}}
{{- $item := omit $c "urlSecretKey" -}}
{{- $_ := set $item $field (printf "secrets/%s" $c.urlSecretKey) -}}
{{- $items = append $items $item -}}
{{- end -}}
{{- if $items -}}
{{- $_ := set $rcv $kind $items -}}
{{- end -}}
{{- end -}}
{{- $receivers = append $receivers $rcv -}}
{{- end -}}
{{- if $receivers -}}
{{- include "lookout.checkRoute" (dict "route" $n.route "names" $names "path" "notifications.route") -}}
{{- $_ := set $out "notifications" (dict "route" $n.route "receivers" $receivers) -}}
{{- end -}}
{{- $ams := list -}}
{{- range $am := $n.alertmanagers -}}
{{- $a := omit $am "basic_auth" "authorization" -}}
{{- with $am.basic_auth -}}
{{- $_ := set $a "basic_auth" (dict "username" .username "password_file" (printf "secrets/%s" .passwordSecretKey)) -}}
{{- end -}}
{{- with $am.authorization -}}
{{- $auth := dict "credentials_file" (printf "secrets/%s" .credentialsSecretKey) -}}
{{- with .type }}{{ $_ := set $auth "type" . }}{{ end -}}
{{- $_ := set $a "authorization" $auth -}}
{{- end -}}
{{- $ams = append $ams $a -}}
{{- end -}}
{{- if $ams -}}
{{- $_ := set $out "alerting" (dict "alertmanagers" $ams) -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
lookout's config file: values.config plus what the chart owns: the cluster external label,
the self-scrape job (so its port follows agent.port), rule_files and the notification part.
*/}}
{{- define "lookout.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $global := deepCopy (get $cfg "global" | default dict) -}}
{{- $labels := deepCopy (get $global "external_labels" | default dict) -}}
{{- with .Values.clusterName -}}
{{- if hasKey $labels "cluster" -}}
{{- fail "set the cluster name in clusterName or in config.global.external_labels.cluster, not both" -}}
{{- end -}}
{{- $_ := set $labels "cluster" . -}}
{{- end -}}
{{- if $labels -}}
{{- $_ := set $global "external_labels" $labels -}}
{{- end -}}
{{- $_ := set $cfg "global" $global -}}
{{- $jobs := list -}}
{{- if .Values.selfScrape.enabled -}}
{{- $self := dict "job_name" "lookout" "static_configs" (list (dict "targets" (list (printf "127.0.0.1:%d" (int .Values.agent.port))))) -}}
{{- with .Values.selfScrape.interval }}{{ $_ := set $self "scrape_interval" . }}{{ end -}}
{{- $jobs = append $jobs $self -}}
{{- end -}}
{{- range $i, $job := (get $cfg "scrape_configs" | default list) -}}
{{- if and $.Values.selfScrape.enabled (eq $job.job_name "lookout") -}}
{{- fail (printf "config.scrape_configs[%d]: job_name \"lookout\" is the chart's self-scrape job; rename yours or set selfScrape.enabled=false" $i) -}}
{{- end -}}
{{- $jobs = append $jobs $job -}}
{{- end -}}
{{- $_ := set $cfg "scrape_configs" $jobs -}}
{{- if (include "lookout.ruleFiles" . | fromYaml) -}}
{{- $_ := set $cfg "rule_files" (list "rules/*.yaml") -}}
{{- end -}}
{{- $cfg = merge $cfg (include "lookout.notificationConfig" . | fromYaml) -}}
{{- toYaml $cfg -}}
{{- end -}}
