# The Ingress's global static IP (named in the Ingress annotation
# kubernetes.io/ingress.global-static-ip-name) and its A record. The
# ManagedCertificate turns Active only once this record resolves to the IP.

resource "google_compute_global_address" "api" {
  name = "license-api-ip"

  depends_on = [google_project_service.enabled]
}

resource "google_dns_record_set" "api" {
  project      = coalesce(var.dns_project_id, var.project_id)
  managed_zone = var.dns_zone_name
  name         = "${var.api_domain}."
  type         = "A"
  ttl          = 300
  rrdatas      = [google_compute_global_address.api.address]
}
