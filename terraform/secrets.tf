# The Secret Manager secrets of the deploy contract. The functions read
# them at start through secret:// references; nothing secret is stored in
# Kubernetes. Their versions are written where the value is made (sql.tf,
# redis.tf, below).

locals {
  # What each use of a backend reads (issue 16, finding 2): a function that
  # connects to Redis and PostgreSQL reads their credentials and server
  # CAs; Health, which only probes them, reads the CAs alone.
  redis_secrets    = ["redis-auth", "redis-ca"]
  database_secrets = ["database-password", "database-ca"]
  probe_secrets    = ["redis-ca", "database-ca"]
  runtime_secrets  = concat(local.redis_secrets, local.database_secrets)
  # The admin functions also read the bootstrap admin token.
  admin_secrets = concat(local.runtime_secrets, ["bootstrap-admin-token"])
}

resource "google_secret_manager_secret" "secret" {
  for_each = toset(local.admin_secrets)

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

# Cloud SQL's server CA (sql.tf: a Google-managed CAS CA), which the
# functions verify the server's certificate against (DATABASE_CA_PEM,
# sslmode=verify-full). Not secret, but read the same way as the Redis CA.
resource "google_secret_manager_secret_version" "database_ca" {
  secret      = google_secret_manager_secret.secret["database-ca"].id
  secret_data = join("", [for ca in google_sql_database_instance.main.server_ca_cert : ca.cert])
}
