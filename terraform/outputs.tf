locals {
  ko_docker_repo = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"

  # Cloud KMS creates version 1 together with the key; a rotation moves
  # var.signing_key_version on (README, Runbooks: signing key rotation).
  signing_key_version = "${google_kms_crypto_key.lease_root.id}/cryptoKeyVersions/${var.signing_key_version}"
  signing_trusted_versions = join(",", [
    for v in var.signing_trusted_key_versions : "${google_kms_crypto_key.lease_root.id}/cryptoKeyVersions/${v}"
  ])
}

output "project_id" {
  description = "Project id: the value that replaces the PROJECT_ID token in the knative/ manifests."
  value       = var.project_id
}

output "cluster_name" {
  description = "Name of the GKE cluster (gcloud container clusters get-credentials NAME --location LOCATION)."
  value       = google_container_cluster.main.name
}

output "cluster_location" {
  description = "Location (region) of the GKE cluster."
  value       = google_container_cluster.main.location
}

output "ko_docker_repo" {
  description = "Artifact Registry path to export as KO_DOCKER_REPO when building and pushing the image with ko."
  value       = local.ko_docker_repo
}

output "api_ip_address" {
  description = "The global static IP license-api-ip the Ingress uses; api_domain's A record points at it."
  value       = google_compute_global_address.api.address
}

output "signing_key_version" {
  description = "Resource name of the lease-root key version the functions sign with (SIGNING_KMS_KEY_VERSION)."
  value       = local.signing_key_version
}

output "sql_private_ip" {
  description = "Private IP of the Cloud SQL instance (reachable from inside the VPC only)."
  value       = google_sql_database_instance.main.private_ip_address
}

output "knative_config" {
  description = "The ConfigMap license-server/license-server-config with this deployment's real values, as one YAML document for kubectl apply -f -."
  value = yamlencode({
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata = {
      name      = "license-server-config"
      namespace = local.namespace
    }
    data = {
      GOOGLE_CLOUD_PROJECT = var.project_id
      REDIS_URL            = "rediss://${google_redis_instance.main.host}:${google_redis_instance.main.port}"
      # No user: a function logs in as its own role (schema/005), which
      # its code names.
      DATABASE_URL            = "postgres://${google_sql_database_instance.main.private_ip_address}:5432/${google_sql_database.licenses.name}?sslmode=verify-full"
      DATABASE_SERVER_NAME    = trimsuffix(google_sql_database_instance.main.dns_name, ".")
      SIGNING_KMS_KEY_VERSION = local.signing_key_version
      # Published in /v1/keys and still verified: the next version before
      # it signs, the previous one until what it signed has expired.
      SIGNING_KMS_TRUSTED_VERSIONS = local.signing_trusted_versions
      LEASE_ISSUER                 = "https://${var.api_domain}"
      LOG_LEVEL                    = var.log_level
    }
  })
}

output "knative_auth_config" {
  description = "The ConfigMap license-server/license-server-auth that only the admin functions read: Identity Platform's ID-token settings and the console's CORS origins, as one YAML document for kubectl apply -f -."
  value = yamlencode({
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata = {
      name      = "license-server-auth"
      namespace = local.namespace
    }
    # AUTH_GOOGLE_AUDIENCE: Google-signed ID tokens of service accounts (a
    # customer's CI with workload identity) name the API's URL as audience.
    data = {
      AUTH_JWKS_URL            = local.auth_jwks_url
      AUTH_ISSUER              = local.auth_issuer
      AUTH_AUDIENCE            = local.auth_audience
      AUTH_PLATFORM_IDP_TENANT = var.platform_idp_tenant
      AUTH_GOOGLE_AUDIENCE     = "https://${var.api_domain}"
      CORS_ALLOWED_ORIGINS     = join(",", [for d in var.console_domains : "https://${d}"])
    }
  })
}

output "knative_console_config" {
  description = "The ConfigMap license-server/license-server-console that only the Console function reads: what its pages are told about signing in (Identity Platform's restricted browser key, the auth domain, the project and the platform's tenant), as one YAML document for kubectl apply -f -."
  # The provider marks an API key's key_string sensitive, so Terraform
  # requires this; the key is no secret (terraform output -raw prints it).
  sensitive = true
  value = yamlencode({
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata = {
      name      = "license-server-console"
      namespace = local.namespace
    }
    # AUTH_AUDIENCE and AUTH_PLATFORM_IDP_TENANT are the admin functions'
    # (knative_auth_config): people sign in where the API accepts them.
    data = {
      CONSOLE_FIREBASE_API_KEY = google_apikeys_key.console.key_string
      CONSOLE_AUTH_DOMAIN      = local.console_auth_domain
      CONSOLE_TOKEN_SIGN_IN    = var.console_token_sign_in ? "true" : "false"
      AUTH_AUDIENCE            = local.auth_audience
      AUTH_PLATFORM_IDP_TENANT = var.platform_idp_tenant
    }
  })
}

output "knative_notify_config" {
  description = "The ConfigMap license-server/license-server-notify that only the Notify function reads: where the links in mails point (the API's host) and their sender, as one YAML document for kubectl apply -f -."
  value = yamlencode({
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata = {
      name      = "license-server-notify"
      namespace = local.namespace
    }
    data = {
      PUBLIC_URL = "https://${var.api_domain}"
      MAIL_FROM  = var.mail_from
    }
  })
}

output "knative_billing_config" {
  description = "The ConfigMap license-server/license-server-billing that only Billing and BillingSchedule read: the grace past a paid period and where Stripe's customer portal returns to, as one YAML document for kubectl apply -f -."
  value = yamlencode({
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata = {
      name      = "license-server-billing"
      namespace = local.namespace
    }
    # Stripe's key and webhook secret are secrets (billing.tf), not here.
    data = {
      BILLING_GRACE             = var.billing_grace
      BILLING_PORTAL_RETURN_URL = var.billing_portal_return_url
    }
  })
}

output "sql_server_name" {
  description = "The name Cloud SQL's server certificate carries (its DNS name): DATABASE_SERVER_NAME for make migrate through a relay, with sslmode=verify-full."
  value       = trimsuffix(google_sql_database_instance.main.dns_name, ".")
}
