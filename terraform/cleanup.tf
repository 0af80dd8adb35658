# Expired-lease cleanup: Cloud Scheduler publishes to license-cleanup every
# minute; an Eventarc trigger delivers each message as a CloudEvent to the
# cluster-local Knative service license-server/cleanup.

resource "google_pubsub_topic" "cleanup" {
  name = "license-cleanup"

  # A tick older than this is worthless: the next one is already on its way.
  message_retention_duration = "600s"

  depends_on = [google_project_service.enabled]
}

# Cloud Scheduler publishes as its service agent: publisher on this topic only.
resource "google_pubsub_topic_iam_member" "scheduler_publisher" {
  topic  = google_pubsub_topic.cleanup.name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_scheduler_job" "cleanup" {
  name      = "license-cleanup"
  region    = var.region
  schedule  = "* * * * *"
  time_zone = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.cleanup.id
    data       = base64encode(jsonencode({ job = "license-cleanup" }))
  }

  depends_on = [google_pubsub_topic_iam_member.scheduler_publisher]
}

# Identity of the trigger, which Eventarc's event forwarder in the cluster
# runs as. Eventarc's GKE destination documents three roles for it:
# - roles/pubsub.subscriber: granted on the license-cleanup topic (attach the
#   trigger's subscription) and on the subscription Eventarc creates (pull),
#   not project-wide;
# - roles/monitoring.metricWriter: the forwarder's metrics; it has no
#   narrower scope than the project and grants only writing metric points;
# - roles/eventarc.eventReceiver: not granted; Eventarc documents it as
#   unneeded for direct Pub/Sub events, which these are.
resource "google_service_account" "eventarc_cleanup" {
  account_id   = "eventarc-cleanup"
  display_name = "Eventarc trigger license-cleanup (GKE event forwarder)"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic_iam_member" "eventarc_subscriber" {
  topic  = google_pubsub_topic.cleanup.name
  role   = "roles/pubsub.subscriber"
  member = "serviceAccount:${google_service_account.eventarc_cleanup.email}"
}

resource "google_project_iam_member" "eventarc_metric_writer" {
  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.eventarc_cleanup.email}"
}

resource "google_eventarc_trigger" "cleanup" {
  name            = "license-cleanup"
  location        = var.region
  service_account = google_service_account.eventarc_cleanup.email

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.pubsub.topic.v1.messagePublished"
  }

  transport {
    pubsub {
      topic = google_pubsub_topic.cleanup.id
    }
  }

  destination {
    gke {
      cluster   = google_container_cluster.main.name
      location  = google_container_cluster.main.location
      namespace = local.namespace
      service   = "cleanup"
      path      = "/"
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.eventarc_subscriber,
    google_project_iam_member.eventarc_metric_writer,
  ]
}

resource "google_pubsub_subscription_iam_member" "eventarc_subscriber" {
  subscription = google_eventarc_trigger.cleanup.transport[0].pubsub[0].subscription
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.eventarc_cleanup.email}"
}
