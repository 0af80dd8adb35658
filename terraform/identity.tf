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

  # Where the Firebase Auth SDK's sign-in handler pages are (Identity
  # Platform's default for the project).
  console_auth_domain = "${var.project_id}.firebaseapp.com"
}

# The admin web console's browser key (CONSOLE_FIREBASE_API_KEY, output
# knative_console_config): the Firebase Auth SDK names the project with it
# when it calls Identity Platform. It is not a secret (every browser reads
# it from /console/config.json) and grants nothing by itself, so it is
# restricted instead: to the two APIs sign-in calls (Identity Toolkit, and
# Secure Token to refresh ID tokens), and to requests whose Referer is a
# page of the console (the API's host, the console's own hosts) or of the
# sign-in handler (the auth domain, which calls the same APIs with it).
# The console's pages must therefore send their origin as Referer to
# Google (Referrer-Policy strict-origin, not no-referrer).
resource "google_apikeys_key" "console" {
  project      = var.project_id
  name         = "license-server-console"
  display_name = "license-server admin console sign-in (browser)"

  restrictions {
    api_targets {
      service = "identitytoolkit.googleapis.com"
    }
    api_targets {
      service = "securetoken.googleapis.com"
    }
    browser_key_restrictions {
      allowed_referrers = [for host in concat([var.api_domain, local.console_auth_domain], var.console_domains) : "https://${host}/*"]
    }
  }

  depends_on = [google_project_service.enabled]
}
