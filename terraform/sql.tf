# Cloud SQL for PostgreSQL 16, highly available (regional), private IP only,
# TLS required. The functions connect directly to the private IP (no Auth
# Proxy), so no account needs roles/cloudsql.client.

resource "google_sql_database_instance" "main" {
  name             = "license-server"
  region           = var.region
  database_version = "POSTGRES_16"

  # Terraform refuses to destroy it; settings.deletion_protection_enabled
  # below guards it from every other client too.
  deletion_protection = true

  settings {
    edition           = "ENTERPRISE"
    tier              = var.sql_tier
    availability_type = "REGIONAL"

    disk_type       = "PD_SSD"
    disk_size       = var.sql_disk_size_gb
    disk_autoresize = true

    deletion_protection_enabled = true

    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.main.id
      ssl_mode        = "ENCRYPTED_ONLY"
      # A CA of Certificate Authority Service signs the server certificate,
      # which then names the instance's DNS name (dns_name): the functions
      # verify it and that name (sslmode=verify-full, DATABASE_SERVER_NAME)
      # while dialling the private IP. The per-instance CA's certificate
      # names only "project:instance", which no host name check can match.
      server_ca_mode = "GOOGLE_MANAGED_CAS_CA"
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "02:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = 14
        retention_unit   = "COUNT"
      }
    }

    maintenance_window {
      day          = 7
      hour         = 3
      update_track = "stable"
    }

    insights_config {
      query_insights_enabled = true
    }

    database_flags {
      name  = "log_min_duration_statement"
      value = "1000"
    }

    # Set, not left to the tier's default, so that the connection budget
    # (TestConnectionBudgets: every Knative service's DATABASE_MAX_CONNS
    # times its max-scale, the migrator and a reserve) is checked against
    # the number the server enforces, and a change of tier changes neither.
    database_flags {
      name  = "max_connections"
      value = tostring(var.sql_max_connections)
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "licenses" {
  name     = "licenses"
  instance = google_sql_database_instance.main.name
}

# One password per login (local.database_logins): letters and digits only,
# since make migrate's DATABASE_URL carries none of them but a password may
# still be pasted into one without URL escaping. 32 of them are about 190
# bits.
resource "random_password" "database" {
  for_each = toset(local.database_logins)

  length  = 32
  special = false
}

# The one login Cloud SQL's API creates: migrations run as it (it becomes a
# member of the NOLOGIN owner, license_owner, in schema/005). Cloud SQL
# makes such users members of cloudsqlsuperuser with CREATEROLE, which is
# why the functions' roles are not made here: schema/005 creates them with
# no such right, and make migrate sets their passwords from the secrets
# below (DATABASE_PASSWORD_<CLASS>).
resource "google_sql_user" "license_migrate" {
  name     = "license_migrate"
  instance = google_sql_database_instance.main.name
  password = random_password.database["migrate"].result
}

resource "google_secret_manager_secret_version" "database_password" {
  for_each = toset(local.database_logins)

  secret      = google_secret_manager_secret.secret["database-password-${each.key}"].id
  secret_data = random_password.database[each.key].result
}
