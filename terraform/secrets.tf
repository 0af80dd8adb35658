# The Secret Manager secrets of the deploy contract. The functions read
# them at start through secret:// references; nothing secret is stored in
# Kubernetes. Their versions are written where the value is made (sql.tf,
# redis.tf, below).

locals {
  # What each use of a backend reads (issue 16, finding 2): a function that
  # connects to Redis and PostgreSQL reads their credentials and server
  # CAs; Health, which only probes them, reads the CAs alone.
  # A function that connects to PostgreSQL also reads the password of its
  # own database role (iam.tf), and no other.
  redis_secrets    = ["redis-auth", "redis-ca"]
  database_secrets = ["database-ca"]
  probe_secrets    = ["redis-ca", "database-ca"]
  runtime_secrets  = concat(local.redis_secrets, local.database_secrets)

  # PostgreSQL's login roles (schema/005): each function logs in as its
  # class's role, which owns nothing and may write only what its functions
  # write; make migrate logs in as license_migrate, which acts as the
  # tables' NOLOGIN owner and sets the roles' passwords.
  database_roles   = ["seats", "admin", "reader", "cleanup"]
  database_logins  = concat(["migrate"], local.database_roles)
  password_secrets = [for login in local.database_logins : "database-password-${login}"]

  # The notification keys (NOTIFY_SECRETS_KEY, NOTIFY_LINK_KEY): one seals
  # webhooks' signing secrets at rest, the other signs the links in mails.
  # Terraform makes them; the functions that use them read them (iam.tf).
  notify_key_secrets = ["notify-secrets-key", "notify-link-key"]

  all_secrets = concat(local.runtime_secrets, local.password_secrets, ["bootstrap-admin-token"], local.notify_key_secrets,
  ["sendgrid-api-key"], local.stripe_secrets)

  # Stripe issues both: the API key and the webhook endpoint's signing
  # secret. An operator adds their versions (billing.tf).
  stripe_secrets = ["stripe-api-key", "stripe-webhook-secret"]
}

resource "google_secret_manager_secret" "secret" {
  for_each = toset(local.all_secrets)

  secret_id = each.key

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

# Letters and digits only (it travels in an Authorization header); 64 of them
# are about 380 bits.
resource "random_password" "bootstrap_admin_token" {
  length  = 64
  special = false
}

resource "google_secret_manager_secret_version" "bootstrap_admin_token" {
  secret      = google_secret_manager_secret.secret["bootstrap-admin-token"].id
  secret_data = random_password.bootstrap_admin_token.result
}

# The notification keys: base64 of 32 random bytes each, the form
# NOTIFY_SECRETS_KEY and NOTIFY_LINK_KEY take. Replacing one makes the
# sealed webhook secrets, or the links in mails already sent, unreadable.
resource "random_bytes" "notify_key" {
  for_each = toset(local.notify_key_secrets)

  length = 32
}

resource "google_secret_manager_secret_version" "notify_key" {
  for_each = toset(local.notify_key_secrets)

  secret      = google_secret_manager_secret.secret[each.key].id
  secret_data = random_bytes.notify_key[each.key].base64
}

# sendgrid-api-key gets no version here: SendGrid issues the key, and it
# stays out of the Terraform state. An operator adds it (README,
# Deployment) before Notify is deployed; Notify does not start without it:
#   printf %s "$SENDGRID_API_KEY" | gcloud secrets versions add sendgrid-api-key --data-file=-

# Cloud SQL's server CA (sql.tf: a Google-managed CAS CA), which the
# functions verify the server's certificate against (DATABASE_CA_PEM,
# sslmode=verify-full). Not secret, but read the same way as the Redis CA.
resource "google_secret_manager_secret_version" "database_ca" {
  secret      = google_secret_manager_secret.secret["database-ca"].id
  secret_data = join("", [for ca in google_sql_database_instance.main.server_ca_cert : ca.cert])
}
