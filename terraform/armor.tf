# Cloud Armor on the API's load balancer: Google's preconfigured WAF rules,
# per-client-IP rate limits on the paths worth flooding, Adaptive
# Protection, and operator-managed allow and deny lists of IP ranges.
#
# The Ingress's backend (the Istio ingress gateway's NEGs) gets the policy
# through knative/ingress.yaml's BackendConfig, whose securityPolicy.name
# is local.armor_policy_name (TestCloudArmorPolicy reads both). Terraform
# does not attach it itself: the GKE Ingress controller owns that backend
# service and would undo an attachment made behind its back.
#
# Cloud Armor tries rules in priority order (lowest number first) and the
# first rule that matches decides, so the order is the design:
#
#     100  health paths: allow (uptime checks never meet a WAF or rate rule)
#    1000+ deny list (var.armor_deny_ranges): 403
#    1500  Stripe's webhook: throttled, never inspected by the WAF
#    2000+ preconfigured WAF rules: 403
#    3000+ allow list (var.armor_allow_ranges): allow, skipping the rate
#          rules only (the WAF above still inspects trusted ranges)
#    4000+ per-IP rate rules: acquire and admin ban, session calls throttle
#    max   default: allow
#
# A throttle or ban rule allows a conforming request outright (evaluation
# stops there), which is why every rate rule comes after the WAF rules.

locals {
  # The policy's name, which the BackendConfig names.
  armor_policy_name = "license-api"

  # The paths uptime checks ask (knative/routes.yaml sends both to the Health
  # function, whose answers carry nothing a client sent). Exact paths, so
  # the exemption from the WAF reaches nothing else; the load balancer's own
  # health check goes to the gateway pods' :15021 directly and never passes
  # through Cloud Armor.
  armor_health_paths = ["/health/", "/ready"]

  # Stripe's webhook (routes.yaml: billing-stripe-webhook). Its bodies are
  # Stripe events that carry whatever customers typed (names, addresses,
  # descriptions), which a WAF signature may take for an attack, and a
  # refused event is a payment Billing never records. The function verifies
  # Stripe-Signature (HMAC over the raw body) before reading anything, which
  # is the check that matters here.
  armor_stripe_webhook_path = "/v1/billing/stripe/webhook"

  # Admin surfaces (routes.yaml): tenants and everything under them
  # (members, licenses, API keys, workstations, repositories, audit, usage,
  # billing, webhooks, notification settings), the platform's members,
  # /v1/me, and the two links mails carry (unsubscribe, invitations), which
  # need no credential and so are worth guessing at.
  armor_admin_paths_regex = "^/v1/(tenants(/.*)?|platform(/.*)?|me|notifications/unsubscribe|invitations/[^/]+)$"

  # The session calls a running client makes (routes.yaml sends them all to
  # heartbeat, or release): the highest-rate paths.
  armor_session_paths_regex = "^/v1/(heartbeat|release|borrow|return|licenses/revocations)$"

  # Cloud Armor takes at most 10 ranges per rule (src_ip_ranges), so each
  # list becomes one rule per 10 ranges, in the order given.
  armor_deny_chunks  = chunklist(var.armor_deny_ranges, 10)
  armor_allow_chunks = chunklist(var.armor_allow_ranges, 10)
}

resource "google_compute_security_policy" "api" {
  name        = local.armor_policy_name
  description = "WAF, per-IP rate limits and allow/deny lists for ${var.api_domain} (terraform/armor.tf)."
  type        = "CLOUD_ARMOR"

  # Adaptive Protection learns the API's normal traffic and alerts (with a
  # suggested rule) on a layer-7 flood that the per-IP limits below cannot
  # see, such as one spread over many addresses.
  adaptive_protection_config {
    layer_7_ddos_defense_config {
      enable = true
    }
  }

  advanced_options_config {
    # The WAF inspects each JSON name and value on its own rather than the
    # raw body, whose braces, quotes and colons are what SQL and XSS
    # signatures look for: without it every JSON API call is a near miss.
    json_parsing = "STANDARD"
    # NORMAL: VERBOSE would log the matched request text, which can be a
    # license key or a token.
    log_level = "NORMAL"
  }

  rule {
    description = "Health paths: uptime checks are never refused by the WAF, a ban or a throttle."
    action      = "allow"
    priority    = 100
    preview     = false
    match {
      expr {
        expression = join(" || ", [for p in local.armor_health_paths : "request.path == '${p}'"])
      }
    }
  }

  # The deny list: refused before anything else but the health paths.
  dynamic "rule" {
    for_each = local.armor_deny_chunks
    content {
      description = "Deny list (var.armor_deny_ranges), ranges ${rule.key * 10 + 1} to ${rule.key * 10 + length(rule.value)}."
      action      = "deny(403)"
      priority    = 1000 + rule.key
      preview     = false
      match {
        versioned_expr = "SRC_IPS_V1"
        config {
          src_ip_ranges = rule.value
        }
      }
    }
  }

  # Stripe delivers a burst when it retries after an outage, from a handful
  # of its own addresses: 600 a minute per address (10 a second) is far
  # above that, and anything faster is refused (429; Stripe retries) rather
  # than banned, so a retry storm never locks Stripe out for minutes.
  rule {
    description = "Stripe's webhook: throttled per IP, exempt from the WAF (the function checks Stripe-Signature)."
    action      = "throttle"
    priority    = 1500
    preview     = false
    match {
      expr {
        expression = "request.path == '${local.armor_stripe_webhook_path}'"
      }
    }
    rate_limit_options {
      enforce_on_key = "IP"
      conform_action = "allow"
      exceed_action  = "deny(429)"
      rate_limit_threshold {
        count        = 600
        interval_sec = 60
      }
    }
  }

  # The preconfigured WAF rules (OWASP CRS 3.3), each in a rule of its own so
  # that a false positive can be tuned (or previewed) alone. Every one runs
  # at sensitivity 1, the CRS's paranoia level 1: its signatures are the
  # high-confidence ones. This is a JSON API whose values are license keys,
  # session ids, tokens (long base64url strings full of '-' and '_'),
  # fingerprints, host and OS names and repository paths; the higher levels
  # add signatures that count special characters or match common words, and
  # those fire on exactly such values (see each rule). A value that still
  # trips a level-1 signature is tuned by opting that signature out
  # (opt_out_rule_ids), never by lowering a whole rule to 0.

  # SQL injection. Level 2 adds 942430/942431-style "too many special
  # characters" anomaly checks and keyword signatures that fire on
  # base64url keys and on names such as "O'Brien" or "select-team".
  rule {
    description = "WAF: SQL injection (sqli-v33-stable, sensitivity 1)."
    action      = "deny(403)"
    priority    = 2000
    preview     = false
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('sqli-v33-stable', {'sensitivity': 1})"
      }
    }
  }

  # Cross-site scripting. The console's pages are served by this host, so
  # this stays on; level 1 is libinjection and script/event-handler
  # patterns, while level 2 adds broad tag and attribute matches that fire
  # on webhook URLs and free-text names.
  rule {
    description = "WAF: cross-site scripting (xss-v33-stable, sensitivity 1)."
    action      = "deny(403)"
    priority    = 2001
    preview     = false
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('xss-v33-stable', {'sensitivity': 1})"
      }
    }
  }

  # Local file inclusion: path traversal ("../") and well-known OS files.
  # Nothing here reads files by a client's name, and level 1 is all of the
  # rule set's signatures that matter for an API with no file paths.
  rule {
    description = "WAF: local file inclusion (lfi-v33-stable, sensitivity 1)."
    action      = "deny(403)"
    priority    = 2002
    preview     = false
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('lfi-v33-stable', {'sensitivity': 1})"
      }
    }
  }

  # Remote code execution: shell and PowerShell command injection,
  # Shellshock. Level 2 and up add short Unix command words, which host
  # names, OS strings ("linux", "darwin") and repository paths contain.
  rule {
    description = "WAF: remote code execution (rce-v33-stable, sensitivity 1)."
    action      = "deny(403)"
    priority    = 2003
    preview     = false
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('rce-v33-stable', {'sensitivity': 1})"
      }
    }
  }

  # Scanner detection: the user agents and headers of security scanners.
  # Level 2 adds the user agents of scripting HTTP clients, which would
  # refuse the Go SDK ("Go-http-client"), curl and CI scripts: the API's
  # own clients. Level 1 only.
  rule {
    description = "WAF: scanner detection (scannerdetection-v33-stable, sensitivity 1)."
    action      = "deny(403)"
    priority    = 2004
    preview     = false
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('scannerdetection-v33-stable', {'sensitivity': 1})"
      }
    }
  }

  # Protocol attacks: request smuggling, response splitting, header
  # injection. Level 1 covers them; level 2 adds checks on header and
  # argument content that a bearer token or a base64url key can trip.
  rule {
    description = "WAF: protocol attacks (protocolattack-v33-stable, sensitivity 1)."
    action      = "deny(403)"
    priority    = 2005
    preview     = false
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('protocolattack-v33-stable', {'sensitivity': 1})"
      }
    }
  }

  # The allow list: trusted ranges (a large tenant's office egress, our own
  # load tests) skip the rate rules below, never the deny list or the WAF
  # above: a compromised machine in a trusted range still cannot inject SQL.
  dynamic "rule" {
    for_each = local.armor_allow_chunks
    content {
      description = "Allow list (var.armor_allow_ranges), ranges ${rule.key * 10 + 1} to ${rule.key * 10 + length(rule.value)}: exempt from the rate rules."
      action      = "allow"
      priority    = 3000 + rule.key
      preview     = false
      match {
        versioned_expr = "SRC_IPS_V1"
        config {
          src_ip_ranges = rule.value
        }
      }
    }
  }

  # The thresholds below are per client IP as the load balancer sees it,
  # and one IP can be a whole tenant behind a NAT. They are set from what
  # the server and the SDK do:
  #  - a lease is 300 s by default (lease_ttl_seconds 30..86400) and a client
  #    heartbeats every third of it (seats.Grant.HeartbeatInterval): every
  #    100 s by default, every 10 s at the shortest lease;
  #  - the SDK retries a refused call after 1 s doubling to 30 s, with
  #    jitter (sdk/license: DefaultMinBackoff, DefaultMaxBackoff), so a
  #    refused client slows down by itself;
  #  - the server itself limits acquires per license key (100/s, burst 200)
  #    and calls per credential (20/s, burst 50).
  # Cloud Armor's 429 is the same answer the SDK already backs off from.

  # Acquire. The 9 am case: 1,000 developers behind one NAT address start
  # their tools within five minutes, each acquiring up to three times (two
  # tools, one retry): 3,000 in five minutes, 600 a minute on average. The
  # throttle is 3,000 a minute (50/s), five times that; the ban is for an
  # address that keeps above 10,000 in three minutes (55/s for three
  # minutes), which no honest office does, and lasts ten minutes.
  rule {
    description = "Rate: /v1/acquire per IP, 3,000/min then 429; over 10,000 in 3 min banned for 10 min."
    action      = "rate_based_ban"
    priority    = 4000
    preview     = false
    match {
      expr {
        expression = "request.path == '/v1/acquire'"
      }
    }
    rate_limit_options {
      enforce_on_key = "IP"
      conform_action = "allow"
      exceed_action  = "deny(429)"
      rate_limit_threshold {
        count        = 3000
        interval_sec = 60
      }
      ban_threshold {
        count        = 10000
        interval_sec = 180
      }
      ban_duration_sec = 600
    }
  }

  # Admin calls. A person in the console makes about one call a second
  # while clicking; automation with an API key is held to 20/s by the
  # server. 1,800 a minute (30/s) covers a busy office of admins plus one
  # script at the server's own limit; an address above 10,000 in five
  # minutes (33/s for five minutes) is guessing keys or tokens, or the
  # invitation and unsubscribe links, and is banned for ten minutes.
  rule {
    description = "Rate: admin paths per IP, 1,800/min then 429; over 10,000 in 5 min banned for 10 min."
    action      = "rate_based_ban"
    priority    = 4001
    preview     = false
    match {
      expr {
        expression = "request.path.matches('${local.armor_admin_paths_regex}')"
      }
    }
    rate_limit_options {
      enforce_on_key = "IP"
      conform_action = "allow"
      exceed_action  = "deny(429)"
      rate_limit_threshold {
        count        = 1800
        interval_sec = 60
      }
      ban_threshold {
        count        = 10000
        interval_sec = 300
      }
      ban_duration_sec = 600
    }
  }

  # Session calls (heartbeat, release, borrow, return, revocations): the
  # highest-rate paths, covered by a generous throttle and never a ban. A
  # ban would stop every session behind the address at once, and each would
  # lose its seat after three missed beats; a throttle refuses only the
  # excess, and a lease outlives two lost beats. 30,000 a minute (500/s)
  # is 5,000 sessions behind one address at the shortest lease (a beat
  # every 10 s) or 50,000 at the default (every 100 s).
  rule {
    description = "Rate: session calls per IP, 30,000/min then 429 (throttle, no ban)."
    action      = "throttle"
    priority    = 4002
    preview     = false
    match {
      expr {
        expression = "request.path.matches('${local.armor_session_paths_regex}')"
      }
    }
    rate_limit_options {
      enforce_on_key = "IP"
      conform_action = "allow"
      exceed_action  = "deny(429)"
      rate_limit_threshold {
        count        = 30000
        interval_sec = 60
      }
    }
  }

  # The default rule every policy has; everything not refused above.
  rule {
    description = "Default: allow."
    action      = "allow"
    priority    = 2147483647
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  depends_on = [google_project_service.enabled]
}
