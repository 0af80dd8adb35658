// A secret the API shows once (a license key, an API key): shown with a
// copy button and a warning, and gone when dismissed.
import { useState } from "react";

export function SecretOnce({ label, secret, onDone }: { label: string; secret: string; onDone(): void }) {
  const [copied, setCopied] = useState(false);
  return (
    <section className="banner secret">
      <h2>{label}</h2>
      <p>
        <strong>Copy it now: it is shown only this once.</strong> The service keeps only a hash of it; lose it and
        you must rotate or create a new one.
      </p>
      <div className="secret-row">
        <code aria-label={label} data-secret>
          {secret}
        </code>
        <button
          type="button"
          onClick={async () => {
            await navigator.clipboard.writeText(secret).catch(() => {});
            setCopied(true);
          }}
        >
          {copied ? "Copied" : "Copy"}
        </button>
        <button type="button" onClick={onDone}>
          I have saved it
        </button>
      </div>
    </section>
  );
}
