// Who is signed in, and the bearer token their calls carry.
//
// Two ways in: a pasted credential (an API key or, for make run and the
// first minutes of a deployment, the bootstrap token), kept in
// sessionStorage so it survives a reload of this tab but no other tab and
// no browser restart (never localStorage); or Identity Platform, whose SDK
// keeps and refreshes the ID token (identityPlatform.ts). Signing out
// forgets both.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";

export const pastedKey = "license-console.credential";

export interface IdentitySession {
  email: string;
  /** A valid ID token, refreshed by the SDK before it expires. */
  token(): Promise<string>;
  signOut(): Promise<void>;
}

export type Session =
  | { kind: "pasted"; credential: string }
  | { kind: "identity"; identity: IdentitySession };

interface SessionContext {
  session: Session | null;
  signInWithCredential(credential: string): void;
  signInWithIdentity(identity: IdentitySession): void;
  signOut(): Promise<void>;
  token(): Promise<string | null>;
}

const Ctx = createContext<SessionContext | null>(null);

function storedCredential(): Session | null {
  try {
    const c = sessionStorage.getItem(pastedKey);
    return c ? { kind: "pasted", credential: c } : null;
  } catch {
    return null;
  }
}

export function SessionProvider({ children, onSignOut }: { children: ReactNode; onSignOut: () => void }) {
  const [session, setSession] = useState<Session | null>(storedCredential);

  const signInWithCredential = useCallback((credential: string) => {
    sessionStorage.setItem(pastedKey, credential);
    setSession({ kind: "pasted", credential });
  }, []);
  const signInWithIdentity = useCallback((identity: IdentitySession) => {
    sessionStorage.removeItem(pastedKey);
    setSession({ kind: "identity", identity });
  }, []);
  const signOut = useCallback(async () => {
    sessionStorage.removeItem(pastedKey);
    if (session?.kind === "identity") await session.identity.signOut();
    setSession(null);
    onSignOut();
  }, [session, onSignOut]);
  const token = useCallback(async () => {
    if (!session) return null;
    return session.kind === "pasted" ? session.credential : session.identity.token();
  }, [session]);

  const value = useMemo(
    () => ({ session, signInWithCredential, signInWithIdentity, signOut, token }),
    [session, signInWithCredential, signInWithIdentity, signOut, token],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useSession(): SessionContext {
  const c = useContext(Ctx);
  if (!c) throw new Error("useSession outside SessionProvider");
  return c;
}
