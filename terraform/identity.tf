# Sign-in for people (issue 17): Identity Platform issues the ID tokens the
# admin functions accept (AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE in the
# license-server-auth ConfigMap, output knative_auth_config). People sign in
# by e-mail link (no password to leak or reset) or, when an OAuth client is
# given, with their Google account. The tokens name the person; what they
# may do comes from their memberships in the database, not from the token.
resource "google_identity_platform_config" "default" {
  project = var.project_id

  sign_in {
    # E-mail link: Identity Platform e-mails a one-time sign-in link.
    email {
      enabled           = true
      password_required = false
    }
  }

  # Where sign-in may redirect back to: the API's host and the admin
  # console's.
  authorized_domains = concat([var.api_domain], var.console_domains)

  depends_on = [google_project_service.enabled]
}

# Google sign-in, when an OAuth client is configured (the client is made in
# the Google Auth Platform console; Terraform cannot create one).
resource "google_identity_platform_default_supported_idp_config" "google" {
  for_each = var.google_oauth_client_id == "" ? toset([]) : toset(["google.com"])

  project       = var.project_id
  idp_id        = each.key
  enabled       = true
  client_id     = var.google_oauth_client_id
  client_secret = var.google_oauth_client_secret

  depends_on = [google_identity_platform_config.default]
}

locals {
  # Identity Platform's ID tokens: Google's securetoken keys, this
  # project as issuer and audience.
  auth_jwks_url = "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
  auth_issuer   = "https://securetoken.google.com/${var.project_id}"
  auth_audience = var.project_id
}
