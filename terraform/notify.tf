# Notification delivery: the functions that append outbox events publish a
# nudge to license-notify right after their commit, and Cloud Scheduler
# publishes a sweep there every minute (it picks up what a lost nudge left,
# and produces the scheduled expiry notices and weekly summaries). An
# Eventarc trigger delivers each message as a CloudEvent to the
# cluster-local Knative service license-server/notify, which makes the
# outbound webhook calls and sends mail through SendGrid (its keys:
# secrets.tf).

resource "google_pubsub_topic" "notify" {
  name = "license-notify"

  # A nudge or a tick older than this is worthless: the next sweep is
  # already on its way.
  message_retention_duration = "600s"

  depends_on = [google_project_service.enabled]
}

# Each nudging function may publish to this topic, and to nothing else.
resource "google_pubsub_topic_iam_member" "notify_publisher" {
  for_each = toset(local.notify_publishers)

  topic  = google_pubsub_topic.notify.name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Cloud Scheduler publishes as its service agent: publisher on this topic only.
resource "google_pubsub_topic_iam_member" "notify_scheduler_publisher" {
  topic  = google_pubsub_topic.notify.name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_scheduler_job" "notify" {
  name      = "license-notify"
  region    = var.region
  schedule  = "* * * * *"
  time_zone = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.notify.id
    data       = base64encode(jsonencode({ job = "license-notify" }))
  }

  depends_on = [google_pubsub_topic_iam_member.notify_scheduler_publisher]
}

# Identity of the trigger, which Eventarc's event forwarder runs as; its own,
# not cleanup's trigger's, so each subscribes to its one topic. The same
# three roles as cleanup.tf documents: roles/pubsub.subscriber on the topic
# and on the trigger's subscription only, roles/monitoring.metricWriter
# (no narrower scope than the project), no roles/eventarc.eventReceiver
# (unneeded for direct Pub/Sub events).
resource "google_service_account" "eventarc_notify" {
  account_id   = "eventarc-notify"
  display_name = "Eventarc trigger license-notify (GKE event forwarder)"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic_iam_member" "notify_eventarc_subscriber" {
  topic  = google_pubsub_topic.notify.name
  role   = "roles/pubsub.subscriber"
  member = "serviceAccount:${google_service_account.eventarc_notify.email}"
}

resource "google_project_iam_member" "notify_eventarc_metric_writer" {
  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.eventarc_notify.email}"
}

resource "google_eventarc_trigger" "notify" {
  name            = "license-notify"
  location        = var.region
  service_account = google_service_account.eventarc_notify.email

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.pubsub.topic.v1.messagePublished"
  }

  transport {
    pubsub {
      topic = google_pubsub_topic.notify.id
    }
  }

  destination {
    gke {
      cluster   = google_container_cluster.main.name
      location  = google_container_cluster.main.location
      namespace = local.namespace
      service   = "notify"
      path      = "/"
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.notify_eventarc_subscriber,
    google_project_iam_member.notify_eventarc_metric_writer,
  ]
}

resource "google_pubsub_subscription_iam_member" "notify_eventarc_subscriber" {
  subscription = google_eventarc_trigger.notify.transport[0].pubsub[0].subscription
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.eventarc_notify.email}"
}
