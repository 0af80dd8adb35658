// Sign-in: with a link e-mailed by Identity Platform (identityPlatform.ts),
// and/or by pasting an API key or the bootstrap token (make run, and a
// deployment's first minutes). The settings say which; both may show.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { useSession } from "./session";
import { fromResponse } from "../api/errors";
import { ErrorBanner, Notice } from "../components/Status";
import type { ConsoleSettings, IdentityPlatformSettings } from "../config";
import {
  emailKey,
  loadIdentityPlatform,
  signInError,
  tenantFor,
  tenantKey,
  withoutLinkParams,
  type IdentityPlatform,
} from "./identityPlatform";

export function SignIn({ settings }: { settings: ConsoleSettings }) {
  return (
    <main className="signin" id="main">
      <h1>License console</h1>
      {settings.identity_platform && <EmailLinkSignIn ip={settings.identity_platform} />}
      {settings.token_sign_in && <TokenSignIn apiBase={settings.api_base} />}
    </main>
  );
}

type Phase =
  | { kind: "starting" } // loading the SDK, restoring a kept user, finishing a link
  | { kind: "form" }
  | { kind: "sent"; email: string }
  | { kind: "confirm"; href: string }; // opened from a link in another tab: whose e-mail?

function EmailLinkSignIn({ ip }: { ip: IdentityPlatformSettings }) {
  const { signInWithIdentity } = useSession();
  const [phase, setPhase] = useState<Phase>({ kind: "starting" });
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const sdk = useRef<IdentityPlatform | null>(null);
  const started = useRef(false);

  const finish = async (fb: IdentityPlatform, address: string, href: string) => {
    const tenant = fb.linkTenant(href);
    try {
      const user = await fb.finish(address, href, tenant);
      sessionStorage.removeItem(emailKey);
      if (tenant && tenant !== ip.platform_tenant) sessionStorage.setItem(tenantKey, tenant);
      else sessionStorage.removeItem(tenantKey);
      window.history.replaceState(null, "", withoutLinkParams(href));
      signInWithIdentity(fb.session(user));
    } catch (err) {
      const e = signInError(err, true);
      if ((err as { code?: string }).code === "auth/invalid-email") {
        // Ask again, for the address the link was sent to.
        setError(e);
        setPhase({ kind: "confirm", href });
        return;
      }
      // A used or expired link: drop it from the address, offer a new one.
      window.history.replaceState(null, "", withoutLinkParams(href));
      sessionStorage.removeItem(emailKey);
      setError(e);
      setPhase({ kind: "form" });
    }
  };

  useEffect(() => {
    // Once, though StrictMode runs effects twice: a link's code works once.
    if (started.current) return;
    started.current = true;
    void (async () => {
      try {
        const fb = await loadIdentityPlatform(ip);
        sdk.current = fb;
        const href = window.location.href;
        if (fb.isLink(href)) {
          const address = sessionStorage.getItem(emailKey);
          if (address) await finish(fb, address, href);
          else setPhase({ kind: "confirm", href });
          return;
        }
        const user = await fb.restore();
        if (user) {
          signInWithIdentity(fb.session(user));
          return;
        }
        setPhase({ kind: "form" });
      } catch (err) {
        setError(err instanceof Error && !("code" in err) ? err : signInError(err));
        setPhase({ kind: "form" });
      }
    })();
  }, []); // eslint-disable-line react-hooks/exhaustive-deps -- once per mount

  const send = async (e: FormEvent) => {
    e.preventDefault();
    const address = email.trim();
    if (!address || !sdk.current) return;
    setBusy(true);
    setError(null);
    try {
      const tenant = tenantFor(window.location.search, ip.platform_tenant, sessionStorage);
      await sdk.current.sendLink(address, tenant);
      sessionStorage.setItem(emailKey, address);
      setPhase({ kind: "sent", email: address });
    } catch (err) {
      setError(signInError(err));
    } finally {
      setBusy(false);
    }
  };

  const confirm = async (e: FormEvent) => {
    e.preventDefault();
    const address = email.trim();
    if (!address || !sdk.current || phase.kind !== "confirm") return;
    setBusy(true);
    setError(null);
    await finish(sdk.current, address, phase.href);
    setBusy(false);
  };

  if (phase.kind === "starting") {
    return (
      <p className="muted" role="status" aria-live="polite">
        Signing in…
      </p>
    );
  }
  if (phase.kind === "confirm") {
    return (
      <form onSubmit={(e) => void confirm(e)}>
        <h2>Finish signing in</h2>
        <p>This link was opened in a new tab. Enter the e-mail address it was sent to.</p>
        <ErrorBanner error={error} />
        <label>
          Work e-mail
          <input type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Finish signing in"}
        </button>
      </form>
    );
  }
  return (
    <form onSubmit={(e) => void send(e)}>
      <h2>Sign in with your work e-mail</h2>
      <ErrorBanner error={error} />
      {phase.kind === "sent" && (
        <>
          <Notice>Check your inbox: we sent a link to {phase.email}</Notice>
          {ip.emulator && sdk.current && <LocalOutbox standIn={sdk.current.standIn} email={phase.email} />}
        </>
      )}
      <label>
        Work e-mail
        <input type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? "Sending…" : "Email me a sign-in link"}
      </button>
    </form>
  );
}

/** LocalOutbox: make run sends no e-mail; it prints the link and keeps it
 * in its outbox, which this opens. */
function LocalOutbox({ standIn, email }: { standIn: string; email: string }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const open = async () => {
    setBusy(true);
    setError(null);
    try {
      const res = await fetch(`${standIn}/outbox?email=${encodeURIComponent(email)}`, { cache: "no-store" });
      if (!res.ok) throw new Error(`The local server has no sign-in link for ${email} (HTTP ${res.status}).`);
      const { link } = (await res.json()) as { link: string };
      window.location.assign(link);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <div>
      <p>On the local server no e-mail is sent: the link is printed in make run&apos;s output.</p>
      <ErrorBanner error={error} />
      <button type="button" disabled={busy} onClick={() => void open()}>
        {busy ? "Opening…" : "Open the link (local server)"}
      </button>
    </div>
  );
}

function TokenSignIn({ apiBase }: { apiBase: string }) {
  const { signInWithCredential } = useSession();
  const [credential, setCredential] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const c = credential.trim();
    if (!c) return;
    setBusy(true);
    setError(null);
    try {
      // Checked before it is kept: a mistyped key signs nobody in.
      const res = await fetch(`${apiBase}/v1/me`, { headers: { Authorization: `Bearer ${c}` }, cache: "no-store" });
      if (!res.ok) throw await fromResponse(res);
      setBusy(false);
      signInWithCredential(c);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)}>
      <h2>Sign in with an API key or the bootstrap token</h2>
      <ErrorBanner error={error} />
      <label>
        API key or token
        <input
          type="password"
          autoComplete="off"
          required
          value={credential}
          onChange={(e) => setCredential(e.target.value)}
        />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
