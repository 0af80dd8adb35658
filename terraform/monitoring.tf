# Monitoring: alert policies, the acquire SLOs with their burn-rate alerts,
# uptime checks of the public health paths and a Cloud Monitoring dashboard.
#
# The functions' own metrics (shared/metrics, README "Metrics") reach Cloud
# Monitoring through Managed Service for Prometheus: the PodMonitoring in
# knative/monitoring/podmonitoring.yaml scrapes GET /metrics of every
# function pod. Alerts on them are PromQL (condition_prometheus_query_language),
# the same language as the Grafana dashboard; Google's own metrics
# (Memorystore, Cloud SQL, uptime checks) are queried in their PromQL form
# (redis_googleapis_com:..., monitored_resource="..."). terraform/
# monitoring_test.go parses every query with Prometheus's parser and checks
# each metric and label against what the code exports (metrics.Catalog).

locals {
  # The max_connections database flag of Cloud SQL (sql.tf sets it from
  # the same variable): the connections alert fires at 80 % of it;
  # monitoring_test.go fails should the two ever differ.
  alert_sql_max_connections = var.sql_max_connections

  # PromQL alerts, by a stable key (the tests and the README name them).
  # duration: how long the query must hold before an incident opens.
  prometheus_alerts = {
    acquire_heartbeat_5xx = {
      display_name = "license-server: acquire/heartbeat 5xx above 1 %"
      severity     = "CRITICAL"
      duration     = "300s"
      # Per function: a failing heartbeat must not hide behind a healthy
      # acquire. The floor (one error every 10 s) keeps a lone 500 in a
      # quiet minute from paging.
      query        = <<-EOT
        (
          sum by (function) (rate(license_http_server_requests_total{function=~"Acquire|Heartbeat", code=~"5.."}[5m]))
            / sum by (function) (rate(license_http_server_requests_total{function=~"Acquire|Heartbeat"}[5m]))
        ) > 0.01
        and sum by (function) (rate(license_http_server_requests_total{function=~"Acquire|Heartbeat", code=~"5.."}[5m])) > 0.1
      EOT
      meaning      = "More than 1 % of acquire or heartbeat requests answered 5xx for 5 minutes: clients cannot take or keep seats (the SDK retries, then falls back to its lease)."
      runbook      = "Acquire or heartbeat errors"
      first_action = "Open the dashboard's HTTP and Backends rows: if Redis or KMS calls fail too, follow that runbook; otherwise read the function's error logs (`kubectl logs -n license-server -l serving.knative.dev/service=acquire -c user-container`)."
    }
    acquire_latency_p99 = {
      display_name = "license-server: acquire p99 above 250 ms"
      severity     = "WARNING"
      duration     = "600s"
      # 0.25 is a bucket boundary of the request histogram, so the quantile
      # is not interpolated across a wide bucket at the threshold.
      query        = <<-EOT
        histogram_quantile(0.99, sum by (le) (rate(license_http_server_request_duration_seconds_bucket{function="Acquire", route="/v1/acquire"}[5m]))) > 0.25
      EOT
      meaning      = "The 99th percentile of POST /v1/acquire took over 250 ms for 10 minutes (the SLO is 95 % under 100 ms)."
      runbook      = "Acquire latency"
      first_action = "Compare the Redis latency and KMS latency panels: a slow backend shows there; if neither moved, check the acquire service's CPU throttling and replica count."
    }
    redis_errors = {
      display_name = "license-server: Redis call errors"
      severity     = "CRITICAL"
      duration     = "300s"
      # service: the Knative service (PodMonitoring target label). A miss
      # is not an error; a script's first EVALSHA after Redis restarts is
      # (NOSCRIPT, then EVAL), once per script and process, well under 1 %.
      query        = <<-EOT
        (
          sum by (service) (rate(license_redis_calls_total{status="error"}[5m]))
            / sum by (service) (rate(license_redis_calls_total[5m]))
        ) > 0.01
        and sum by (service) (rate(license_redis_calls_total{status="error"}[5m])) > 0.1
      EOT
      meaning      = "More than 1 % of a service's Redis commands failed for 5 minutes: seats cannot be counted, so acquires and heartbeats fail."
      runbook      = "Redis errors"
      first_action = "Check Memorystore's state and maintenance events (`gcloud redis instances describe license-server --region $REGION`), then the function logs for the error text (timeouts, AUTH, TLS)."
    }
    postgres_errors = {
      display_name = "license-server: PostgreSQL statement errors"
      severity     = "ERROR"
      duration     = "600s"
      # A unique violation the code answers with 409 is an error here too,
      # hence 5 % over 10 minutes rather than any error.
      query        = <<-EOT
        (
          sum by (function) (rate(license_postgres_queries_total{status="error"}[5m]))
            / sum by (function) (rate(license_postgres_queries_total[5m]))
        ) > 0.05
        and sum by (function) (rate(license_postgres_queries_total{status="error"}[5m])) > 0.1
      EOT
      meaning      = "More than 5 % of a function's PostgreSQL statements failed for 10 minutes. The seat path goes on (Redis), but admin APIs fail and the usage ledger stops draining."
      runbook      = "PostgreSQL errors"
      first_action = "Check Cloud SQL's state and recent operations (`gcloud sql operations list --instance license-server --limit 5`), the connections alert, and the function logs for the SQLSTATE."
    }
    ledger_drain_lag = {
      display_name = "license-server: ledger drain lag above 5 minutes"
      severity     = "ERROR"
      duration     = "60s"
      # The gauge belongs to the last cleanup run of a pod that may have
      # scaled to zero since: take the worst value seen over 10 minutes.
      query        = <<-EOT
        max(max_over_time(license_ledger_drain_lag_seconds[10m])) > 300
      EOT
      meaning      = "A cleanup run read a usage-ledger entry that had waited over 5 minutes in Redis: the drain to PostgreSQL is falling behind (normally under the one-minute schedule)."
      runbook      = "Ledger drain lag"
      first_action = "Look for PostgreSQL errors and failing cleanup runs on the dashboard's Cleanup and ledger row; the entries stay in Redis and drain once PostgreSQL answers."
    }
    cleanup_failing = {
      display_name = "license-server: cleanup failed 3 schedules in a row"
      severity     = "ERROR"
      duration     = "0s"
      # Cloud Scheduler ticks every minute (cleanup.tf), so 3 minutes are 3
      # schedule periods: at least three failed runs (2.5 allows for the
      # extrapolation of increase) and not one ok run in them. A run
      # skipped because another held the lock is neither.
      query        = <<-EOT
        sum(increase(license_cleanup_runs_total{result="failed"}[3m])) >= 2.5
        unless sum(increase(license_cleanup_runs_total{result="ok"}[3m])) > 0
      EOT
      meaning      = "Three consecutive cleanup schedules failed and none succeeded: expired sessions are not swept (seats stay taken) and the usage ledger does not drain."
      runbook      = "Cleanup failing"
      first_action = "Read the cleanup logs (`kubectl logs -n license-server -l serving.knative.dev/service=cleanup -c user-container`) for the failing step; Redis or PostgreSQL errors point to their runbooks."
    }
    memorystore_memory = {
      display_name = "license-server: Memorystore memory above 80 %"
      severity     = "WARNING"
      duration     = "300s"
      # instance_id may be the full resource name or the bare id: match both.
      query        = <<-EOT
        max by (instance_id) (redis_googleapis_com:stats_memory_usage_ratio{monitored_resource="redis_instance", instance_id=~"(.*/)?${google_redis_instance.main.name}"}) > 0.8
      EOT
      meaning      = "Memorystore uses over 80 % of its memory for 5 minutes; at 100 % writes fail (seats cannot be taken) or keys are evicted."
      runbook      = "Memorystore memory"
      first_action = "Check the ledger drain lag (undrained entries grow in Redis), then raise redis_memory_size_gb and apply; a Standard-tier resize keeps serving."
    }
    sql_connections = {
      display_name = "license-server: Cloud SQL connections above 80 % of max_connections"
      severity     = "WARNING"
      duration     = "300s"
      query        = <<-EOT
        sum(cloudsql_googleapis_com:database_postgresql_num_backends{monitored_resource="cloudsql_database", database_id="${var.project_id}:${google_sql_database_instance.main.name}"}) > ${local.alert_sql_max_connections * 0.8}
      EOT
      meaning      = "Cloud SQL has over 80 % of max_connections (${local.alert_sql_max_connections}) open for 5 minutes; new connections will soon be refused."
      runbook      = "Cloud SQL connections"
      first_action = "See which functions hold connections (pg_stat_activity by usename through the relay of README Deployment step 4) and whether a scale-out multiplied the pools; lower the pool sizes or raise the flag."
    }
    certificate_expiry = {
      display_name = "license-server: TLS certificate of the API expires within 14 days"
      severity     = "ERROR"
      duration     = "600s"
      # Observed by the uptime checks below (validate_ssl): days left on the
      # certificate the load balancer presents for api_domain. Google renews
      # a managed certificate about 30 days before expiry, so 14 days left
      # means renewal is failing.
      query        = <<-EOT
        min(monitoring_googleapis_com:uptime_check_time_until_ssl_cert_expires{monitored_resource="uptime_url", host="${var.api_domain}"}) < 14
      EOT
      meaning      = "The certificate served for ${var.api_domain} expires in under 14 days: the Google-managed certificate did not renew."
      runbook      = "Certificate expiry"
      first_action = "`kubectl describe managedcertificate license-api-cert -n istio-system`: the domain status says why (usually DNS no longer pointing at the static IP, or a CAA record)."
    }
  }

  # Uptime checks of the public health paths (knative/routes.yaml routes both
  # to Health and exempts them from the HTTPS redirect): /health/ answers
  # while the API is served at all, /ready only while Redis and PostgreSQL
  # answer Health's probes (503 otherwise). Both are public by design.
  uptime_checks = {
    health = {
      path         = "/health/"
      meaning      = "https://${var.api_domain}/health/ failed from more than one region for 5 minutes: the API is unreachable (DNS, load balancer, certificate, gateway or Health)."
      runbook      = "API unreachable"
      first_action = "`curl -v https://${var.api_domain}/health/`; then the Ingress and its backend health (`kubectl describe ingress -n istio-system`) and the gateway pods."
    }
    ready = {
      path         = "/ready"
      meaning      = "https://${var.api_domain}/ready failed from more than one region for 5 minutes: Health cannot reach Redis or PostgreSQL (its answer names which)."
      runbook      = "API not ready"
      first_action = "`curl -s https://${var.api_domain}/ready` shows which check fails; follow the Redis errors or PostgreSQL errors runbook."
    }
  }

  # Burn-rate alerts on the acquire SLOs (Google SRE workbook, multiwindow
  # figures for a 28-day period): fast pages when an hour burns 14.4 times
  # the sustainable rate (2 % of the budget per hour), slow when six hours
  # burn 6 times it (5 % of the budget per 6 hours).
  burn_rate_alerts = {
    availability_fast = { slo = "availability", lookback = "60m", burn = 14.4, severity = "CRITICAL" }
    availability_slow = { slo = "availability", lookback = "360m", burn = 6, severity = "ERROR" }
    latency_fast      = { slo = "latency", lookback = "60m", burn = 14.4, severity = "CRITICAL" }
    latency_slow      = { slo = "latency", lookback = "360m", burn = 6, severity = "ERROR" }
  }
  slo_names = {
    availability = google_monitoring_slo.acquire_availability.name
    latency      = google_monitoring_slo.acquire_latency.name
  }

  # The acquire SLIs count requests as the acquire function served them, from
  # its Managed Prometheus series: the load balancer cannot isolate the
  # acquire path (the Ingress sends every path to the mesh gateway, one
  # backend). What fails before the function (gateway, load balancer) is
  # seen by the uptime checks instead.
  acquire_series = "resource.type=\"prometheus_target\" AND metric.label.function=\"Acquire\" AND metric.label.route=\"/v1/acquire\""
}

resource "google_monitoring_alert_policy" "prometheus" {
  for_each = local.prometheus_alerts

  display_name          = each.value.display_name
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = each.value.display_name

    condition_prometheus_query_language {
      query               = each.value.query
      duration            = each.value.duration
      evaluation_interval = "60s"
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    subject   = each.value.display_name
    content   = <<-EOT
      ${each.value.meaning}

      **Runbook:** README, "Runbooks" > "${each.value.runbook}".

      **First action:** ${each.value.first_action}
    EOT
    mime_type = "text/markdown"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_uptime_check_config" "api" {
  for_each = local.uptime_checks

  display_name     = "license-server ${each.value.path}"
  timeout          = "10s"
  period           = "60s"
  selected_regions = ["USA", "EUROPE", "ASIA_PACIFIC"]

  http_check {
    path           = each.value.path
    port           = 443
    use_ssl        = true
    validate_ssl   = true
    request_method = "GET"
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = var.api_domain
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "uptime" {
  for_each = local.uptime_checks

  display_name          = "license-server: ${each.value.path} failing"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.alert_notification_channels

  # Google's documented uptime condition: the number of checker regions
  # reporting a failure, above 1 (so one region's network trouble does not
  # page), for 5 minutes.
  conditions {
    display_name = "${each.value.path} failing from more than one region"

    condition_threshold {
      filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.label.check_id=\"${google_monitoring_uptime_check_config.api[each.key].uptime_check_id}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "300s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.label.host"]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    subject   = "license-server: ${each.value.path} failing"
    content   = <<-EOT
      ${each.value.meaning}

      **Runbook:** README, "Runbooks" > "${each.value.runbook}".

      **First action:** ${each.value.first_action}
    EOT
    mime_type = "text/markdown"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_custom_service" "acquire" {
  service_id   = "license-acquire"
  display_name = "License acquire (POST /v1/acquire)"

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_slo" "acquire_availability" {
  service      = google_monitoring_custom_service.acquire.service_id
  slo_id       = "acquire-availability"
  display_name = "Acquire availability: 99.95 % of requests not 5xx, rolling 28 days"

  goal                = 0.9995
  rolling_period_days = 28

  request_based_sli {
    good_total_ratio {
      total_service_filter = "metric.type=\"prometheus.googleapis.com/license_http_server_requests_total/counter\" AND ${local.acquire_series}"
      bad_service_filter   = "metric.type=\"prometheus.googleapis.com/license_http_server_requests_total/counter\" AND ${local.acquire_series} AND metric.label.code=monitoring.regex.full_match(\"5..\")"
    }
  }
}

resource "google_monitoring_slo" "acquire_latency" {
  service      = google_monitoring_custom_service.acquire.service_id
  slo_id       = "acquire-latency"
  display_name = "Acquire latency: 95 % of requests under 100 ms, rolling 28 days"

  goal                = 0.95
  rolling_period_days = 28

  request_based_sli {
    # 0.1 s is a bucket boundary of the request histogram, so the cut is
    # exact (metrics_test checks the buckets).
    distribution_cut {
      distribution_filter = "metric.type=\"prometheus.googleapis.com/license_http_server_request_duration_seconds/histogram\" AND ${local.acquire_series}"

      range {
        max = 0.1
      }
    }
  }
}

resource "google_monitoring_alert_policy" "slo_burn" {
  for_each = local.burn_rate_alerts

  display_name          = "license-server: acquire ${each.value.slo} SLO burning ${each.value.burn}x over ${each.value.lookback}"
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "burn rate of acquire ${each.value.slo} over ${each.value.lookback} above ${each.value.burn}"

    condition_threshold {
      filter          = "select_slo_burn_rate(\"${local.slo_names[each.value.slo]}\", \"${each.value.lookback}\")"
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.burn
      duration        = "0s"
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }

  documentation {
    subject   = "license-server: acquire ${each.value.slo} SLO burning fast"
    content   = <<-EOT
      The acquire ${each.value.slo} SLO is spending its 28-day error budget ${each.value.burn} times faster than it can sustain, measured over ${each.value.lookback}.

      **Runbook:** README, "Runbooks" > "SLO burn".

      **First action:** open the SLO in Monitoring > Services > License acquire; then follow the acquire/heartbeat 5xx or acquire latency runbook, whichever the SLO is.
    EOT
    mime_type = "text/markdown"
  }
}

# The Grafana dashboard (knative/monitoring/grafana-dashboard.json) as a
# Cloud Monitoring dashboard, generated from the same JSON so the two never
# disagree: each Grafana panel is a tile with its PromQL, rows become text
# headers, Grafana's 24-column grid becomes Cloud Monitoring's 48. Grafana's
# variables have no counterpart here: $__rate_interval becomes 5m and the
# function filter matches every function.
locals {
  grafana_dashboard = jsondecode(file("${path.module}/../knative/monitoring/grafana-dashboard.json"))
  # A collapsed Grafana row holds its panels; an open one is followed by them.
  grafana_panels = flatten([for p in local.grafana_dashboard.panels : concat([p], lookup(p, "panels", []))])
  grafana_units  = { s = "s", reqps = "1/s", ops = "1/s", short = "1", percentunit = "1" }

  dashboard_tiles = concat(
    [for p in local.grafana_panels : {
      xPos   = 0
      yPos   = p.gridPos.y * 2
      width  = 48
      height = 2
      widget = { text = { content = "## ${p.title}", format = "MARKDOWN" } }
    } if p.type == "row"],
    [for p in local.grafana_panels : {
      xPos   = p.gridPos.x * 2
      yPos   = p.gridPos.y * 2
      width  = p.gridPos.w * 2
      height = p.gridPos.h * 2
      widget = {
        title = p.title
        xyChart = {
          chartOptions = { mode = "COLOR" }
          dataSets = [for tg in p.targets : {
            plotType   = "LINE"
            targetAxis = "Y1"
            timeSeriesQuery = {
              prometheusQuery = replace(replace(tg.expr, "$__rate_interval", "5m"), "=~\"$function\"", "=~\".*\"")
              unitOverride    = lookup(local.grafana_units, p.fieldConfig.defaults.unit, "1")
            }
          }]
        }
      }
    } if p.type != "row"],
  )
}

resource "google_monitoring_dashboard" "license_server" {
  dashboard_json = jsonencode({
    displayName  = local.grafana_dashboard.title
    mosaicLayout = { columns = 48, tiles = local.dashboard_tiles }
  })

  depends_on = [google_project_service.enabled]
}
