// Sign-in. PLACEHOLDER: the Identity Platform e-mail link is added in
// identityPlatform.ts; this form pastes an API key or the bootstrap token.
import { useState } from "react";
import { useSession } from "./session";
import type { ConsoleSettings } from "../config";

export function SignIn({ settings }: { settings: ConsoleSettings }) {
  const { signInWithCredential } = useSession();
  const [credential, setCredential] = useState("");
  return (
    <main className="signin" id="main">
      <h1>License console</h1>
      {settings.token_sign_in && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (credential.trim()) signInWithCredential(credential.trim());
          }}
        >
          <h2>Sign in with an API key or the bootstrap token</h2>
          <label>
            API key or token
            <input type="password" autoComplete="off" value={credential} onChange={(e) => setCredential(e.target.value)} />
          </label>
          <button type="submit">Sign in</button>
        </form>
      )}
    </main>
  );
}
