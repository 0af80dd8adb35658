variable "project_id" {
  description = "Google Cloud project id everything is created in (also the Workload Identity pool <project_id>.svc.id.goog)."
  type        = string
}

variable "region" {
  description = "Region of the GKE cluster, Cloud SQL, Memorystore, KMS key ring, Artifact Registry, Cloud Scheduler and Eventarc."
  type        = string
  default     = "us-central1"
}

variable "cluster_name" {
  description = "Name of the GKE Standard cluster (regional, in var.region)."
  type        = string
  default     = "license-server"
}

variable "dns_zone_name" {
  description = "Name (not DNS name) of the existing Cloud DNS managed zone for coditect.ai that gets the A record of var.api_domain."
  type        = string
}

variable "dns_project_id" {
  description = "Project holding the Cloud DNS zone var.dns_zone_name, when it is not var.project_id."
  type        = string
  default     = null
}

variable "api_domain" {
  description = "Public host name of the API; the A record, the ManagedCertificate and LEASE_ISSUER use it."
  type        = string
  default     = "api.coditect.ai"
}

variable "mail_from" {
  description = "MAIL_FROM of the mails Notify sends (license-server-notify ConfigMap); SendGrid must have verified the address or its domain."
  type        = string
  default     = "Coditect Licenses <notifications@coditect.ai>"
}

variable "billing_grace" {
  description = "BILLING_GRACE of Billing and BillingSchedule (license-server-billing ConfigMap): how long past its paid period a license stays active while Stripe retries a failed payment; a Go duration from 0 to 2160h."
  type        = string
  default     = "72h"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(h|m|s))+$", var.billing_grace))
    error_message = "The billing_grace must be a Go duration such as 72h."
  }
}

variable "billing_portal_return_url" {
  description = "BILLING_PORTAL_RETURN_URL of Billing (license-server-billing ConfigMap): where Stripe's customer portal sends an admin back; an https URL, the console's."
  type        = string
  default     = "https://api.coditect.ai/console/"

  validation {
    condition     = can(regex("^https://[^/]+", var.billing_portal_return_url))
    error_message = "The billing_portal_return_url must be an https URL."
  }
}

variable "log_level" {
  description = "LOG_LEVEL written into the license-server-config ConfigMap."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "The log_level must be one of debug, info, warn, error."
  }
}

variable "subnet_cidr" {
  description = "Primary range of the cluster subnet (node IPs)."
  type        = string
  default     = "10.10.0.0/20"
}

variable "pods_cidr" {
  description = "Secondary range of the cluster subnet for Pod IPs."
  type        = string
  default     = "10.20.0.0/14"
}

variable "services_cidr" {
  description = "Secondary range of the cluster subnet for Kubernetes Service IPs."
  type        = string
  default     = "10.24.0.0/20"
}

variable "master_cidr" {
  description = "/28 range for the GKE control plane of the private cluster; must not overlap the other ranges."
  type        = string
  default     = "172.16.0.0/28"
}

variable "private_services_prefix_length" {
  description = "Prefix length of the private services access range shared by Cloud SQL and Memorystore."
  type        = number
  default     = 16
}

variable "master_authorized_networks" {
  description = "CIDR blocks allowed to reach the cluster's public control-plane endpoint (kubectl), besides Google Cloud's own addresses. Empty (the default): none; use the VPC or add your address."
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  default = []
}

variable "node_machine_type" {
  description = "Machine type of the cluster's node pool."
  type        = string
  default     = "e2-standard-4"
}

variable "node_min_count_per_zone" {
  description = "Autoscaler minimum of nodes in each zone of the regional node pool."
  type        = number
  default     = 1
}

variable "node_max_count_per_zone" {
  description = "Autoscaler maximum of nodes in each zone of the regional node pool."
  type        = number
  default     = 3
}

variable "sql_tier" {
  description = "Cloud SQL machine tier (Enterprise edition), e.g. db-custom-2-7680."
  type        = string
  default     = "db-custom-2-7680"
}

# Cloud SQL's default max_connections follows the instance's memory
# (https://cloud.google.com/sql/docs/postgres/quotas, "Maximum concurrent
# connections", a table by memory size: 25 at 0.6 GB, rising to 1,000 for
# the largest). db-custom-2-7680 has 7.5 GB, the boundary between the
# table's rows of 200 and 400 as we read it, so the flag is set rather than
# left to which side of it Cloud SQL puts the tier. 400 connections of about
# 10 MB each leave the 7.5 GB instance most of its memory for
# shared_buffers (a third) and the page cache.
variable "sql_max_connections" {
  description = "Cloud SQL's max_connections flag. TestConnectionBudgets holds every Knative service's DATABASE_MAX_CONNS times its max-scale, plus the migrator and a reserve, below it; raise it with the tier (Cloud SQL's default for the tier's memory is the guide)."
  type        = number
  default     = 400

  validation {
    condition     = var.sql_max_connections >= 100 && var.sql_max_connections <= 4000 && floor(var.sql_max_connections) == var.sql_max_connections
    error_message = "The sql_max_connections must be a whole number from 100 to 4000."
  }
}

variable "sql_disk_size_gb" {
  description = "Initial Cloud SQL disk size in GB (auto-resize is on)."
  type        = number
  default     = 20
}

variable "redis_memory_size_gb" {
  description = "Memorystore for Redis capacity in GB."
  type        = number
  default     = 1
}

variable "console_domains" {
  description = "Host names of the admin web console: Identity Platform's authorized sign-in domains (with api_domain) and, as https:// origins, CORS_ALLOWED_ORIGINS of the admin functions."
  type        = list(string)
  default     = []
}

variable "platform_idp_tenant" {
  description = "Identity Platform tenant of the platform's own people (AUTH_PLATFORM_IDP_TENANT of the admin functions and the console): only its ID tokens may claim platform memberships. Empty (the default): the project's own users."
  type        = string
  default     = ""
}

variable "console_token_sign_in" {
  description = "Whether the admin web console also offers signing in by pasting an API key or the bootstrap token (CONSOLE_TOKEN_SIGN_IN). Off by default: people sign in through Identity Platform, and credentials stay out of browsers."
  type        = bool
  default     = false
}

variable "google_oauth_client_id" {
  description = "OAuth client id for Google sign-in through Identity Platform. Empty (the default): e-mail link sign-in only."
  type        = string
  default     = ""
}

variable "google_oauth_client_secret" {
  description = "OAuth client secret of google_oauth_client_id (kept in the state, which only deployers can read)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "signing_key_version" {
  description = "Version number of the lease-root KMS key that signs delegations, borrow leases and certificates (SIGNING_KMS_KEY_VERSION); Cloud KMS creates version 1 with the key. Move it on only as README, Runbooks: signing key rotation, says, after the new version has been published through signing_trusted_key_versions."
  type        = number
  default     = 1

  validation {
    condition     = var.signing_key_version >= 1 && floor(var.signing_key_version) == var.signing_key_version
    error_message = "The signing_key_version must be a whole number from 1."
  }
}

variable "signing_trusted_key_versions" {
  description = "Further lease-root key versions that /v1/keys publishes and the service still verifies (SIGNING_KMS_TRUSTED_VERSIONS): the next version before it signs, the previous one until everything it signed has expired (90 days after a switch: the longest borrow lease)."
  type        = list(number)
  default     = []

  validation {
    condition     = alltrue([for v in var.signing_trusted_key_versions : v >= 1 && floor(v) == v])
    error_message = "Every signing_trusted_key_versions entry must be a whole number from 1."
  }
}

variable "alert_notification_channels" {
  description = "Cloud Monitoring notification channels every alert policy of monitoring.tf notifies, as full resource names (projects/PROJECT/notificationChannels/ID; list them with gcloud beta monitoring channels list). Empty (the default): incidents open in the console but nobody is told."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", c))])
    error_message = "Each notification channel must be a full resource name: projects/PROJECT/notificationChannels/ID."
  }
}

variable "armor_deny_ranges" {
  description = "IP ranges (CIDR, IPv4 or IPv6) that Cloud Armor refuses with 403 on every path but the health paths (armor.tf). At most 50; each rule takes 10."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.armor_deny_ranges) <= 50 && alltrue([for r in var.armor_deny_ranges : can(cidrhost(r, 0)) && !endswith(r, "/0")])
    error_message = "The armor_deny_ranges must be at most 50 CIDR ranges such as 198.51.100.0/24 or 2001:db8::/32, none of them /0."
  }
}

variable "armor_allow_ranges" {
  description = "Trusted IP ranges (CIDR, IPv4 or IPv6) that Cloud Armor exempts from its per-IP rate rules, never from the deny list or the WAF (armor.tf). At most 50; each rule takes 10."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.armor_allow_ranges) <= 50 && alltrue([for r in var.armor_allow_ranges : can(cidrhost(r, 0)) && !endswith(r, "/0")])
    error_message = "The armor_allow_ranges must be at most 50 CIDR ranges such as 198.51.100.0/24 or 2001:db8::/32, none of them /0."
  }
}
