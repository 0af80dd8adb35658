# Billing (issue 21): Stripe's two secrets, which Stripe issues and an
# operator adds (they never enter the Terraform state), and the hourly
# schedule of BillingSchedule: Cloud Scheduler publishes to license-billing
# at minute 7 of every hour; an Eventarc trigger delivers each message as a
# CloudEvent to the cluster-local Knative service
# license-server/billingschedule. Stripe's webhook reaches Billing through
# the Ingress (knative/routes.yaml), the one route of the API without a
# credential (Billing checks Stripe-Signature).
#
# Before deploying Billing and BillingSchedule:
#   printf %s "$STRIPE_API_KEY" | gcloud secrets versions add stripe-api-key --data-file=-
#   printf %s "$STRIPE_WEBHOOK_SECRET" | gcloud secrets versions add stripe-webhook-secret --data-file=-

resource "google_pubsub_topic" "billing" {
  name = "license-billing"

  # A tick older than this is worthless: the next one is on its way.
  message_retention_duration = "3600s"

  depends_on = [google_project_service.enabled]
}

# Cloud Scheduler publishes as its service agent: publisher on this topic only.
resource "google_pubsub_topic_iam_member" "billing_scheduler_publisher" {
  topic  = google_pubsub_topic.billing.name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_scheduler_job" "billing" {
  name      = "license-billing"
  region    = var.region
  schedule  = "7 * * * *"
  time_zone = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.billing.id
    data       = base64encode(jsonencode({ job = "license-billing" }))
  }

  depends_on = [google_pubsub_topic_iam_member.billing_scheduler_publisher]
}

# Identity of the trigger, its own: roles/pubsub.subscriber on the topic
# and the trigger's subscription only, and roles/monitoring.metricWriter.
resource "google_service_account" "eventarc_billing" {
  account_id   = "eventarc-billing"
  display_name = "Eventarc trigger license-billing (GKE event forwarder)"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic_iam_member" "billing_eventarc_subscriber" {
  topic  = google_pubsub_topic.billing.name
  role   = "roles/pubsub.subscriber"
  member = "serviceAccount:${google_service_account.eventarc_billing.email}"
}

resource "google_project_iam_member" "billing_eventarc_metric_writer" {
  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.eventarc_billing.email}"
}

resource "google_eventarc_trigger" "billing" {
  name            = "license-billing"
  location        = var.region
  service_account = google_service_account.eventarc_billing.email

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.pubsub.topic.v1.messagePublished"
  }

  transport {
    pubsub {
      topic = google_pubsub_topic.billing.id
    }
  }

  destination {
    gke {
      cluster   = google_container_cluster.main.name
      location  = google_container_cluster.main.location
      namespace = local.namespace
      service   = "billingschedule"
      path      = "/"
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.billing_eventarc_subscriber,
    google_project_iam_member.billing_eventarc_metric_writer,
  ]
}

resource "google_pubsub_subscription_iam_member" "billing_eventarc_subscriber" {
  subscription = google_eventarc_trigger.billing.transport[0].pubsub[0].subscription
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.eventarc_billing.email}"
}
