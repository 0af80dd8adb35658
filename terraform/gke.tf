# GKE Standard, regional (control plane and nodes in every zone of
# var.region), private nodes with a public, authenticated control-plane
# endpoint that only authorized networks reach: Eventarc's GKE destination
# needs a public endpoint, and kubectl reaches it from
# var.master_authorized_networks (none by default).

locals {
  node_tag = "license-server-node"

  # Roles of the node service account, project-wide because that is where
  # these roles mean anything: writing logs and metrics of the nodes.
  # Image pulls are granted on the one Artifact Registry repository instead
  # (artifact.tf).
  node_roles = [
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
  ]
}

resource "google_service_account" "gke_nodes" {
  account_id   = "license-server-nodes"
  display_name = "GKE nodes of license-server (logs, metrics, image pulls only)"

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "gke_nodes" {
  for_each = toset(local.node_roles)

  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.gke_nodes.email}"
}

resource "google_container_cluster" "main" {
  name     = var.cluster_name
  location = var.region

  network         = google_compute_network.main.id
  subnetwork      = google_compute_subnetwork.nodes.id
  networking_mode = "VPC_NATIVE"

  # Dataplane V2 (eBPF), with NetworkPolicy enforcement built in.
  datapath_provider = "ADVANCED_DATAPATH"

  release_channel {
    channel = "REGULAR"
  }

  deletion_protection = true

  # The node pool is managed separately (google_container_node_pool.main).
  remove_default_node_pool = true
  initial_node_count       = 1

  # The default pool lives only for the seconds before it is removed; it
  # still runs as the dedicated node account, never the Compute default one.
  node_config {
    service_account = google_service_account.gke_nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }

  ip_allocation_policy {
    cluster_secondary_range_name  = google_compute_subnetwork.nodes.secondary_ip_range[0].range_name
    services_secondary_range_name = google_compute_subnetwork.nodes.secondary_ip_range[1].range_name
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = var.master_cidr
  }

  # Always on (issue 16, finding 9): the public endpoint answers only
  # Google Cloud's own addresses (Eventarc installing and running its event
  # forwarder, which needs a public endpoint: a private-endpoint cluster
  # cannot be an Eventarc GKE destination) and the CIDRs listed in
  # var.master_authorized_networks, none by default; the VPC reaches the
  # private endpoint.
  master_authorized_networks_config {
    gcp_public_cidrs_access_enabled = true

    dynamic "cidr_blocks" {
      for_each = var.master_authorized_networks
      content {
        cidr_block   = cidr_blocks.value.cidr_block
        display_name = cidr_blocks.value.display_name
      }
    }
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  enable_shielded_nodes = true

  # Managed Service for Prometheus: its collectors scrape the functions
  # (knative/monitoring/podmonitoring.yaml), and the alerts and SLOs of
  # monitoring.tf read what they collect. On by default for new clusters;
  # written here so it never depends on a default.
  monitoring_config {
    enable_components = ["SYSTEM_COMPONENTS"]
    managed_prometheus {
      enabled = true
    }
  }

  addons_config {
    # GKE Ingress (class gce) and its ManagedCertificate.
    http_load_balancing {
      disabled = false
    }
    horizontal_pod_autoscaling {
      disabled = false
    }
  }

  security_posture_config {
    mode               = "BASIC"
    vulnerability_mode = "VULNERABILITY_BASIC"
  }

  maintenance_policy {
    daily_maintenance_window {
      start_time = "03:00"
    }
  }

  lifecycle {
    # node_config above describes only the short-lived default pool.
    ignore_changes = [node_config]
  }

  depends_on = [google_project_iam_member.gke_nodes]
}

resource "google_container_node_pool" "main" {
  name     = "main"
  cluster  = google_container_cluster.main.id
  location = var.region

  autoscaling {
    min_node_count = var.node_min_count_per_zone
    max_node_count = var.node_max_count_per_zone
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  upgrade_settings {
    max_surge       = 1
    max_unavailable = 0
  }

  node_config {
    machine_type = var.node_machine_type
    disk_type    = "pd-balanced"
    disk_size_gb = 50
    image_type   = "COS_CONTAINERD"

    service_account = google_service_account.gke_nodes.email
    # Access is decided by IAM on the account, not by scopes.
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    tags         = [local.node_tag]

    metadata = {
      disable-legacy-endpoints = "true"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    # Pods see the GKE metadata server: Workload Identity, never the node's
    # own credentials.
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}
