{{- define "backstage.fullname" -}}
{{- printf "%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "backstage.labels" -}}
app.kubernetes.io/name: backstage
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "backstage.selectorLabels" -}}
app.kubernetes.io/name: backstage
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "backstage.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "backstage.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
