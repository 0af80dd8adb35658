# The root signing key: leases and license certificates are signed with it
# (RSA 4096, PKCS#1 v1.5, SHA-256) inside an HSM. Cloud KMS creates version 1
# with the key; SIGNING_KMS_KEY_VERSION names it. Asymmetric keys do not
# rotate automatically: a new version is a deliberate act (clients must learn
# the new public key from /v1/keys first).

resource "google_kms_key_ring" "license_server" {
  name     = "license-server"
  location = var.region

  depends_on = [google_project_service.enabled]
}

resource "google_kms_crypto_key" "lease_root" {
  name     = "lease-root"
  key_ring = google_kms_key_ring.license_server.id
  purpose  = "ASYMMETRIC_SIGN"

  version_template {
    algorithm        = "RSA_SIGN_PKCS1_4096_SHA256"
    protection_level = "HSM"
  }

  lifecycle {
    prevent_destroy = true
  }
}
