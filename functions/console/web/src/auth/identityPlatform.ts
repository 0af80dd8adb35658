// Signing in through Identity Platform with an e-mail link (passwordless),
// with the Firebase Auth SDK.
//
// The SDK is loaded with import() only when the console is configured for
// Identity Platform, so it is not in the first JavaScript a page loads. It
// is set up with initializeAuth and no popup/redirect resolver: getAuth()
// would load Google's iframe and scripts, which the console's
// Content-Security-Policy (script-src 'self') refuses. An e-mail link needs
// only REST calls to identitytoolkit.googleapis.com and
// securetoken.googleapis.com (or, on the local server, to its stand-in,
// which connectAuthEmulator points the SDK at).
//
// Whose people sign in: the platform's staff through the platform's
// Identity Platform tenant (settings.platform_tenant; "" is the project's
// own users), a customer's people through their tenant's, named in the
// console's address (?idp_tenant=) and remembered for the tab.
//
// The SDK keeps the signed-in user in sessionStorage (this tab only, never
// localStorage) and refreshes the ID token within five minutes of expiry
// whenever getIdToken() is asked for one.
import type { Auth, User } from "firebase/auth";
import type { IdentityPlatformSettings } from "../config";
import type { IdentitySession } from "./session";

/** The address a link was sent to, for finishing the sign-in in this tab. */
export const emailKey = "license-console.sign-in-email";
/** A customer's Identity Platform tenant, from ?idp_tenant=. */
export const tenantKey = "license-console.idp-tenant";
/** The console's address parameter naming a customer's tenant. */
export const tenantParam = "idp_tenant";

/** The query parameters an e-mail link brings (removed once used). */
const linkParams = ["apiKey", "oobCode", "mode", "lang", "tenantId", "continueUrl", "link"];

interface Store {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** tenantFor is the Identity Platform tenant to sign in through: the
 * address's ?idp_tenant= (remembered in store), else the one remembered,
 * else the platform's (null for the project's own users). */
export function tenantFor(search: string, platformTenant: string, store: Store): string | null {
  const named = new URLSearchParams(search).get(tenantParam)?.trim();
  if (named) {
    store.setItem(tenantKey, named);
    return named;
  }
  return store.getItem(tenantKey) || platformTenant || null;
}

const loopbackHosts = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** standInAddress is where the page reaches the local server's sign-in
 * stand-in: its address, but on the page's own origin when both are this
 * machine under different names (localhost and 127.0.0.1), so the calls
 * stay same-origin (the page's Content-Security-Policy allows only 'self'
 * there). */
export function standInAddress(emulator: string, pageOrigin: string): string {
  const e = new URL(emulator);
  const p = new URL(pageOrigin);
  if (e.origin !== p.origin && e.port === p.port && loopbackHosts.has(e.hostname) && loopbackHosts.has(p.hostname)) {
    return p.origin + e.pathname.replace(/\/$/, "");
  }
  return emulator.replace(/\/$/, "");
}

/** withoutLinkParams is the address with an e-mail link's parameters
 * removed (the rest, such as ?idp_tenant=, kept). */
export function withoutLinkParams(href: string): string {
  const u = new URL(href);
  for (const p of linkParams) u.searchParams.delete(p);
  return u.pathname + u.search + u.hash;
}

/** signInError is what to tell a person for an error of the SDK. */
export function signInError(err: unknown, finishing = false): Error {
  const code = typeof err === "object" && err && "code" in err ? String((err as { code: unknown }).code) : "";
  const words: Record<string, string> = {
    "auth/invalid-email": finishing
      ? "That is not the address the sign-in link was sent to."
      : "That is not a valid e-mail address.",
    "auth/missing-email": "Enter your work e-mail address.",
    "auth/invalid-action-code": "This sign-in link has expired or was already used. Send yourself a new one.",
    "auth/expired-action-code": "This sign-in link has expired. Send yourself a new one.",
    "auth/tenant-id-mismatch": "This sign-in link is for another organisation's sign-in. Open it from the e-mail again.",
    "auth/user-disabled": "Your account is disabled. Ask your administrator.",
    "auth/unauthorized-continue-uri": "This console's address is not allowed to sign in. Ask the platform's operators.",
    "auth/unauthorized-domain": "This console's address is not allowed to sign in. Ask the platform's operators.",
    "auth/operation-not-allowed": "Signing in with an e-mail link is not enabled. Ask the platform's operators.",
    "auth/quota-exceeded": "Too many sign-in e-mails were sent. Wait a while and try again.",
    "auth/too-many-requests": "Too many attempts. Wait a while and try again.",
    "auth/network-request-failed": "The sign-in service could not be reached. Check your connection and try again.",
    "auth/invalid-api-key": "The console's sign-in is misconfigured (API key). Ask the platform's operators.",
    "auth/invalid-tenant-id": "The sign-in named in this address does not exist. Check the link you were given.",
  };
  if (words[code]) return new Error(words[code]);
  return new Error(`Signing in failed${code ? ` (${code})` : ""}. Try again.`);
}

/** The Firebase Auth SDK, as this page uses it. */
export interface IdentityPlatform {
  auth: Auth;
  /** The address the local server's stand-in is reached at ("" in production). */
  standIn: string;
  /** The user kept in this tab, once the SDK has read it. */
  restore(): Promise<User | null>;
  isLink(href: string): boolean;
  /** The tenant a link is for (null: the project's own users). */
  linkTenant(href: string): string | null;
  sendLink(email: string, tenant: string | null): Promise<void>;
  finish(email: string, href: string, tenant: string | null): Promise<User>;
  session(user: User): IdentitySession;
}

let loading: Promise<IdentityPlatform> | null = null;

/** loadIdentityPlatform loads the SDK (once per page). */
export function loadIdentityPlatform(settings: IdentityPlatformSettings): Promise<IdentityPlatform> {
  loading ??= load(settings).catch((err: unknown) => {
    loading = null;
    throw err;
  });
  return loading;
}

async function load(settings: IdentityPlatformSettings): Promise<IdentityPlatform> {
  const [{ initializeApp }, fb] = await Promise.all([import("firebase/app"), import("firebase/auth")]);
  const app = initializeApp(
    { apiKey: settings.api_key, authDomain: settings.auth_domain, projectId: settings.project_id },
    "license-console",
  );
  const auth = fb.initializeAuth(app, { persistence: fb.browserSessionPersistence });
  let standIn = "";
  if (settings.emulator) {
    standIn = standInAddress(settings.emulator, window.location.origin);
    // Before any call: the SDK then calls <origin>/identitytoolkit.googleapis.com/...
    fb.connectAuthEmulator(auth, standIn, { disableWarnings: true });
  }
  // The tab's tenant, so a kept user of that tenant is restored.
  auth.tenantId = tenantFor(window.location.search, settings.platform_tenant, sessionStorage);
  return {
    auth,
    standIn,
    async restore() {
      await auth.authStateReady();
      return auth.currentUser;
    },
    isLink: (href) => fb.isSignInWithEmailLink(auth, href),
    linkTenant: (href) => fb.parseActionCodeURL(href)?.tenantId ?? null,
    async sendLink(email, tenant) {
      auth.tenantId = tenant;
      await fb.sendSignInLinkToEmail(auth, email, {
        url: window.location.origin + "/console/",
        handleCodeInApp: true,
      });
    },
    async finish(email, href, tenant) {
      auth.tenantId = tenant;
      const cred = await fb.signInWithEmailLink(auth, email, href);
      return cred.user;
    },
    session: (user) => ({
      email: user.email ?? "",
      token: () => user.getIdToken(),
      signOut: () => fb.signOut(auth),
    }),
  };
}
