# One Google service account per function (fn-<name>), bound through Workload
# Identity to the Kubernetes service account of the same name in namespace
# license-server. Each gets only what its row of the deploy contract lists:
# the signing key for the functions that sign, and the secrets it reads; the
# nudging functions may also publish to license-notify (notify.tf). No
# project-level role: every grant is on the one resource it concerns.

locals {
  namespace = "license-server"

  # signs: signs leases or license certificates with the lease-root key.
  # admin: an admin API, reads bootstrap-admin-token.
  # backends: "data" connects to Redis and PostgreSQL (their credentials
  # and CAs), "probe" only probes them (their CAs), "none" uses neither.
  # role: the PostgreSQL role a "data" function logs in as (schema/005),
  # whose password alone it reads.
  functions = {
    health          = { signs = false, admin = false, backends = "probe", role = "" }
    acquire         = { signs = true, admin = false, backends = "data", role = "seats" }
    heartbeat       = { signs = true, admin = false, backends = "data", role = "seats" }
    release         = { signs = false, admin = false, backends = "data", role = "seats" }
    keys            = { signs = false, admin = false, backends = "none", role = "" }
    openapi         = { signs = false, admin = false, backends = "none", role = "" }
    console         = { signs = false, admin = false, backends = "none", role = "" }
    tenants         = { signs = false, admin = true, backends = "data", role = "admin" }
    members         = { signs = false, admin = true, backends = "data", role = "admin" }
    licenses        = { signs = true, admin = true, backends = "data", role = "admin" }
    apikeys         = { signs = false, admin = true, backends = "data", role = "admin" }
    workstations    = { signs = false, admin = true, backends = "data", role = "admin" }
    repositories    = { signs = false, admin = true, backends = "data", role = "admin" }
    audit           = { signs = false, admin = true, backends = "data", role = "reader" }
    usage           = { signs = false, admin = true, backends = "data", role = "reader" }
    notifications   = { signs = false, admin = true, backends = "data", role = "admin" }
    cleanup         = { signs = false, admin = false, backends = "data", role = "cleanup" }
    notify          = { signs = false, admin = false, backends = "data", role = "cleanup" }
    billing         = { signs = false, admin = true, backends = "data", role = "admin" }
    billingschedule = { signs = false, admin = false, backends = "data", role = "cleanup" }
  }

  signing_functions = { for name, fn in local.functions : name => fn if fn.signs }

  # Functions that read the lease-root public keys and never sign: Keys
  # publishes them at GET /v1/keys. They get publicKeyViewer, not signer.
  public_key_readers = ["keys"]

  # Functions that read the notification keys (secrets.tf): Notifications
  # seals webhooks' signing secrets and checks the links in mails, Notify
  # opens the one and signs the other.
  notify_key_readers = ["notifications", "notify"]

  # Functions that send mail, and so read the SendGrid key: Notify alone.
  mail_senders = ["notify"]

  # Functions that publish to license-notify right after a commit that
  # appended outbox events (notify.tf: publisher on that topic alone).
  notify_publishers = ["apikeys", "billing", "licenses", "members", "notifications", "workstations"]

  # Functions that call Stripe's API, and so read its key (billing.tf):
  # Billing (the portal, invoice previews) and BillingSchedule (the usage
  # it reports). Billing alone checks Stripe's webhook signatures.
  stripe_callers           = ["billing", "billingschedule"]
  stripe_webhook_receivers = ["billing"]

  # Every function that reads the key's public half: the signers (to name
  # the key version they sign with) and the readers.
  key_viewers = toset(concat(keys(local.signing_functions), local.public_key_readers))

  # The secrets each kind of backend use reads.
  backend_secrets = {
    data  = local.runtime_secrets
    probe = local.probe_secrets
    none  = []
  }

  # "<function>/<secret>" => { function, secret } for every secret a function reads.
  function_secrets = merge([
    for name, fn in local.functions : {
      for secret in concat(local.backend_secrets[fn.backends], fn.role != "" ? ["database-password-${fn.role}"] : [],
        fn.admin ? ["bootstrap-admin-token"] : [], contains(local.notify_key_readers, name) ? local.notify_key_secrets : [],
        contains(local.mail_senders, name) ? ["sendgrid-api-key"] : [], contains(local.stripe_callers, name) ? ["stripe-api-key"] : [],
      contains(local.stripe_webhook_receivers, name) ? ["stripe-webhook-secret"] : []) :
      "${name}/${secret}" => { function = name, secret = secret }
    }
  ]...)
}

resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = "fn-${each.key}"
  display_name = "license-server function ${each.key}"

  depends_on = [google_project_service.enabled]
}

# The Kubernetes service account license-server/<name> may act as fn-<name>.
resource "google_service_account_iam_member" "workload_identity" {
  for_each = local.functions

  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${local.namespace}/${each.key}]"

  # The pool exists once the cluster has Workload Identity.
  depends_on = [google_container_cluster.main]
}

resource "google_kms_crypto_key_iam_member" "signer" {
  for_each = local.signing_functions

  crypto_key_id = google_kms_crypto_key.lease_root.id
  role          = "roles/cloudkms.signer"
  member        = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_kms_crypto_key_iam_member" "public_key_viewer" {
  for_each = local.key_viewers

  crypto_key_id = google_kms_crypto_key.lease_root.id
  role          = "roles/cloudkms.publicKeyViewer"
  member        = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_secret_manager_secret_iam_member" "function" {
  for_each = local.function_secrets

  secret_id = google_secret_manager_secret.secret[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}
