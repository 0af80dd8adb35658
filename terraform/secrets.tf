# The four Secret Manager secrets of the deploy contract. The functions read
# them at start through secret:// references; nothing secret is stored in
# Kubernetes. Their versions are written where the value is made (sql.tf,
# redis.tf, below).

locals {
  # Every function reads these.
  runtime_secrets = ["redis-auth", "redis-ca", "database-password"]
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
