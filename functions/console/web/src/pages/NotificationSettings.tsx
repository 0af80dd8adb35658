// Notification settings: who is e-mailed about which event, and the time
// zone the weekly summary is sent in. One table row per event type; Save
// sends only the rules that changed (the API keeps the others), so two
// admins editing different types do not undo each other.
import { useMemo, useState, type FormEvent } from "react";
import { useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { must, type Schemas } from "../api/client";
import { useApi } from "../api/context";
import { ErrorBanner, Loading, Notice } from "../components/Status";
import { changedRules, draftOf, eventTypes, type RuleDraft } from "./notifications/logic";

type Settings = Schemas["NotificationSettings"];

export default function NotificationSettings() {
  const { tenantId = "" } = useParams();
  const api = useApi();
  const settings = useQuery({
    queryKey: ["notification-settings", tenantId],
    queryFn: async () =>
      must(await api.GET("/v1/tenants/{tenant_id}/notification-settings", { params: { path: { tenant_id: tenantId } } })),
  });
  return (
    <section aria-labelledby="notifications-title">
      <h1 id="notifications-title">Notifications</h1>
      <p className="muted">
        Who is e-mailed about what happens in this tenant. Webhooks receive events whatever is chosen here.
      </p>
      {settings.isPending ? (
        <Loading what="the notification settings" />
      ) : settings.error ? (
        <ErrorBanner error={settings.error} retry={() => void settings.refetch()} />
      ) : (
        // The form keeps its drafts across a save; what counts as changed
        // is measured against the latest saved settings (loaded).
        <SettingsForm key={tenantId} tenantId={tenantId} loaded={settings.data} />
      )}
    </section>
  );
}

function SettingsForm({ tenantId, loaded }: { tenantId: string; loaded: Settings }) {
  const api = useApi();
  const qc = useQueryClient();
  const [zone, setZone] = useState(loaded.time_zone);
  const [drafts, setDrafts] = useState<Record<string, RuleDraft>>(() =>
    Object.fromEntries(eventTypes.map((t) => [t, draftOf(loaded.email[t])])),
  );
  const [message, setMessage] = useState<string | null>(null);
  // Suggestions only: the API is the judge of what a time zone is.
  const zones = useMemo(() => {
    try {
      return Intl.supportedValuesOf("timeZone");
    } catch {
      return [];
    }
  }, []);

  const save = useMutation({
    mutationFn: async (body: Schemas["NotificationSettingsUpdate"]) =>
      must(
        await api.PATCH("/v1/tenants/{tenant_id}/notification-settings", {
          params: { path: { tenant_id: tenantId } },
          body,
        }),
      ),
    onMutate: () => setMessage(null),
    onSuccess: (s) => {
      qc.setQueryData(["notification-settings", tenantId], s);
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    const email = changedRules(loaded.email, drafts);
    const body: Schemas["NotificationSettingsUpdate"] = {};
    if (zone.trim() !== loaded.time_zone) body.time_zone = zone.trim();
    if (Object.keys(email).length > 0) body.email = email;
    if (Object.keys(body).length === 0) {
      setMessage("Nothing to save: no setting was changed.");
      return;
    }
    save.mutate(body);
  }
  const set = (t: string, d: Partial<RuleDraft>) => setDrafts((all) => ({ ...all, [t]: { ...all[t]!, ...d } }));

  return (
    <form onSubmit={submit} aria-label="Notification settings">
      {save.isSuccess && <Notice>Saved.</Notice>}
      {message && <Notice>{message}</Notice>}
      <ErrorBanner error={save.error} />
      <div className="card">
        <label>
          Time zone
          <input
            required
            list="time-zones"
            value={zone}
            onChange={(e) => setZone(e.target.value)}
            aria-describedby="time-zone-hint"
            spellCheck={false}
          />
        </label>
        <datalist id="time-zones">
          {zones.map((z) => (
            <option key={z} value={z} />
          ))}
        </datalist>
        <p id="time-zone-hint" className="hint">
          An IANA time zone such as Europe/Berlin: the weekly usage summary is sent Monday 08:00 there.
        </p>
      </div>
      <table aria-label="E-mail by event type">
        <thead>
          <tr>
            <th scope="col">Event type</th>
            <th scope="col">E-mail</th>
            <th scope="col">To admins</th>
            <th scope="col">Extra recipients</th>
          </tr>
        </thead>
        <tbody>
          {eventTypes.map((t) => {
            const d = drafts[t]!;
            return (
              <tr key={t}>
                <th scope="row">
                  <code>{t}</code>
                </th>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`E-mail ${t}`}
                    checked={d.email}
                    onChange={(e) => set(t, { email: e.target.checked })}
                  />
                </td>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`E-mail ${t} to admins`}
                    checked={d.admins}
                    onChange={(e) => set(t, { admins: e.target.checked })}
                  />
                </td>
                <td>
                  <input
                    aria-label={`Extra recipients of ${t}`}
                    value={d.recipients}
                    onChange={(e) => set(t, { recipients: e.target.value })}
                    placeholder="ops@example.com, oncall@example.com"
                    spellCheck={false}
                    className="recipients"
                  />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p className="hint">Extra recipients: addresses separated by commas (at most 20 per event type).</p>
      <div className="row-actions">
        <button type="submit" className="primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : "Save"}
        </button>
      </div>
    </form>
  );
}
