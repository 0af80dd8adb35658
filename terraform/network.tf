# One VPC: a subnet for the nodes with secondary ranges for Pods and Services
# (VPC-native cluster), a private services access range peered to Google for
# Cloud SQL's private IP and Memorystore, and Cloud NAT so private nodes can
# pull images from outside Google (Istio's images come from Docker Hub).

resource "google_compute_network" "main" {
  name                    = "license-server"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"

  depends_on = [google_project_service.enabled]
}

resource "google_compute_subnetwork" "nodes" {
  name          = "license-server-${var.region}"
  region        = var.region
  network       = google_compute_network.main.id
  ip_cidr_range = var.subnet_cidr

  # Nodes have no external IPs: Google APIs (Secret Manager, KMS, Pub/Sub,
  # Artifact Registry) are reached through Private Google Access.
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.pods_cidr
  }

  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.services_cidr
  }

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.1
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Private services access: Cloud SQL and Memorystore get their addresses from
# this range through the servicenetworking peering.
resource "google_compute_global_address" "private_services" {
  name          = "license-server-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = var.private_services_prefix_length
  network       = google_compute_network.main.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.main.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
}

resource "google_compute_router" "nat" {
  name    = "license-server-${var.region}"
  region  = var.region
  network = google_compute_network.main.id
}

resource "google_compute_router_nat" "nat" {
  name                               = "license-server-${var.region}"
  router                             = google_compute_router.nat.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# GKE opens only 443 and 10250 from a private cluster's control plane to the
# nodes. Admission webhooks served on other ports need this: Knative Serving
# and net-istio (8443), istiod (15017).
resource "google_compute_firewall" "control_plane_webhooks" {
  name          = "license-server-control-plane-webhooks"
  network       = google_compute_network.main.id
  direction     = "INGRESS"
  source_ranges = [var.master_cidr]
  target_tags   = [local.node_tag]

  allow {
    protocol = "tcp"
    ports    = ["8443", "15017"]
  }
}
