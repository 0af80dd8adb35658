# The Docker repository ko pushes the function image to (KO_DOCKER_REPO).
# The nodes pull from it, and from nothing else of ours.

resource "google_artifact_registry_repository" "images" {
  location      = var.region
  repository_id = "license-server"
  format        = "DOCKER"
  description   = "license-server function images, built and pushed by ko"

  depends_on = [google_project_service.enabled]
}

resource "google_artifact_registry_repository_iam_member" "gke_nodes_reader" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.gke_nodes.email}"
}
