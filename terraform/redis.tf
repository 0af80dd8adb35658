# Memorystore for Redis: the seat counters. Standard tier (primary and replica
# in two zones, automatic failover), AUTH and TLS on, reached over private
# services access. With TLS it serves on port 6378.

locals {
  # Memorystore for Redis accepts 65,000 connected clients per Basic or
  # Standard Tier instance, whatever its capacity
  # (https://cloud.google.com/memorystore/docs/redis/quotas, "Instance
  # limits"); the lower, per-capacity-tier limits of in-transit encryption
  # apply to Redis 6.x and earlier only, and this instance runs 7.2 (a test
  # holds that). TestConnectionBudgets holds every Knative service's
  # REDIS_POOL_SIZE times its max-scale, plus a reserve, below it.
  redis_max_clients = 65000
}

resource "google_redis_instance" "main" {
  name           = "license-server"
  region         = var.region
  tier           = "STANDARD_HA"
  memory_size_gb = var.redis_memory_size_gb
  redis_version  = "REDIS_7_2"

  authorized_network = google_compute_network.main.id
  connect_mode       = "PRIVATE_SERVICE_ACCESS"
  reserved_ip_range  = google_compute_global_address.private_services.name

  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"

  persistence_config {
    persistence_mode    = "RDB"
    rdb_snapshot_period = "ONE_HOUR"
  }

  maintenance_policy {
    weekly_maintenance_window {
      day = "SUNDAY"
      start_time {
        hours   = 3
        minutes = 0
      }
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_secret_manager_secret_version" "redis_auth" {
  secret      = google_secret_manager_secret.secret["redis-auth"].id
  secret_data = google_redis_instance.main.auth_string
}

# Every CA certificate the instance presents (more than one during a CA
# rotation), concatenated as one PEM bundle.
resource "google_secret_manager_secret_version" "redis_ca" {
  secret      = google_secret_manager_secret.secret["redis-ca"].id
  secret_data = join("", [for ca in google_redis_instance.main.server_ca_certs : ca.cert])
}
