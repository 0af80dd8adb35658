// The API's errors in words a person understands. Every error answer is the
// envelope {"error":{"code","message"}}; the code is stable, the message is
// for developers. The console branches on the code and falls back to the
// HTTP status when it does not know one.

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly retryAfter: number | null;

  constructor(status: number, code: string, detail: string, retryAfter: number | null = null) {
    super(describeError(status, code, detail));
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

const byCode: Record<string, string> = {
  unauthorized: "Your sign-in is no longer valid. Sign in again.",
  not_a_member: "You are signed in, but you are not a member of any tenant here. Ask an admin to invite your e-mail address.",
  forbidden: "Your role does not allow this. Ask an admin of this tenant, or a platform admin for commercial terms.",
  not_found: "That no longer exists. It may have been deleted by someone else.",
  tenant_not_found: "That tenant does not exist, or you are not a member of it.",
  license_not_found: "That license does not exist (or was deleted).",
  api_key_not_found: "That API key does not exist (or was already revoked).",
  workstation_not_found: "That workstation does not exist.",
  repository_not_found: "That repository does not exist (or was deleted).",
  member_not_found: "That member does not exist (or was removed).",
  session_not_found: "That session has already ended.",
  webhook_not_found: "That webhook does not exist (or was deleted).",
  delivery_not_found: "That delivery does not exist (or its webhook was deleted).",
  invalid_webhook_url:
    "The service may not call that URL: it must be https, and its host must resolve to a public address.",
  invalid_request: "Some of what you entered is not valid.",
  slug_taken: "Another tenant already uses that slug. Choose another.",
  idp_tenant_taken: "Another tenant already uses that Identity Platform tenant.",
  remote_taken: "A repository with that remote is already registered.",
  member_exists: "That e-mail address is already a member here.",
  last_admin:
    "This would leave the tenant without an admin. Make someone else an admin first, then change or remove this one.",
  license_inactive: "This license is suspended or expired.",
  workstation_blocked: "This workstation is blocked.",
  session_revoked: "That session was ended by an admin.",
  no_seats: "All seats of this license are in use.",
  no_seats_available: "All seats of this license are in use.",
  user_seat_limit: "That user already holds the most seats this license allows one user.",
  user_required: "This license needs the user's own sign-in or an API key of the tenant.",
  rate_limited: "Too many requests. Wait a moment and try again.",
  report_too_large: "That report covers too much. Choose a shorter range or daily buckets.",
  payload_too_large: "That is too large to send.",
  unsupported_media_type: "The console sent something the service does not accept. Reload the page and try again.",
  method_not_allowed: "The service does not offer that here. Reload the page: the console may be out of date.",
  invalid_idempotency_key: "The request's retry key was not valid. Try again.",
  not_ready: "The service is starting or a dependency is down. Try again in a moment.",
  idempotency_key_reused: "That request was already sent with different content. Reload and try again.",
  idempotency_key_in_progress: "The same request is still being processed. Wait a moment.",
  unavailable: "The service is busy or a dependency is down. Try again in a moment.",
  internal: "Something went wrong on the server. Try again; if it keeps happening, contact support.",
  network: "The service could not be reached. Check your connection and try again.",
  console_not_built: "The console is not built into this server.",
};

const byStatus: Record<number, string> = {
  400: "That request was not valid.",
  401: byCode.unauthorized!,
  403: byCode.forbidden!,
  404: byCode.not_found!,
  409: "That conflicts with the current state. Reload and try again.",
  413: byCode.payload_too_large!,
  429: byCode.rate_limited!,
  500: byCode.internal!,
  502: byCode.unavailable!,
  503: byCode.unavailable!,
  504: byCode.unavailable!,
};

/** describeError is the sentence shown for an error answer. For
 * invalid_request the server's message says which field is wrong, and for
 * invalid_webhook_url what is wrong with the URL, so it is added (it names
 * fields and the refusal, never secrets). */
export function describeError(status: number, code: string, detail = ""): string {
  // Own keys only: a code such as "constructor" is not a known one.
  const words =
    (Object.hasOwn(byCode, code) ? byCode[code] : undefined) ??
    (Object.hasOwn(byStatus, status) ? byStatus[status] : undefined) ??
    `The request failed (HTTP ${status}).`;
  if (code === "invalid_webhook_url" && detail) {
    // The message is `field "url" is not a webhook URL this service may
    // call: <why>`; the why is what a person can act on.
    const why = detail.replace(/^[^:]*:\s*/, "");
    return `${words} Reason: ${why.replace(/\.$/, "")}.`;
  }
  if (code === "invalid_request" && detail) {
    return `${words} ${capitalise(detail)}.`.replace(/\.\.$/, ".");
  }
  return words;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** fromResponse reads the envelope of a failed answer (any body). */
export async function fromResponse(res: Response): Promise<ApiError> {
  let code = "";
  let detail = "";
  try {
    const body: unknown = await res.clone().json();
    if (body && typeof body === "object" && "error" in body) {
      const e = (body as { error?: { code?: unknown; message?: unknown } }).error;
      if (typeof e?.code === "string") code = e.code;
      if (typeof e?.message === "string") detail = e.message;
    }
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  return new ApiError(res.status, code, detail, retryAfterOf(res.headers.get("Retry-After")));
}

/** retryAfterOf reads Retry-After as seconds: a number of seconds, or an
 * HTTP date (seconds from now, at least 0); null when absent or
 * unreadable. */
export function retryAfterOf(v: string | null, now: Date = new Date()): number | null {
  if (v === null || v.trim() === "") return null;
  if (/^\s*\d+\s*$/.test(v)) return Number(v);
  // An HTTP date ends in GMT (RFC 9110); Date.parse alone takes far more.
  if (!/GMT\s*$/.test(v)) return null;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - now.getTime()) / 1000));
}

/** messageOf is what to show for anything thrown. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof TypeError) return byCode.network!;
  if (err instanceof Error) return err.message;
  return "Something went wrong.";
}
