// The console's pages and the least role each needs, as the API enforces
// it (the API is the authority; the navigation only hides what would be
// refused). A page a role may not see is neither in the navigation nor
// reachable by typing its address (RequireRole).
import type { TenantRole } from "./api/context";

export interface PageEntry {
  /** Path under /console/tenants/:tenantId/ ("" for the overview). */
  path: string;
  label: string;
  need: TenantRole;
}

export const tenantPages: PageEntry[] = [
  { path: "", label: "Overview", need: "member" },
  { path: "licenses", label: "Licenses", need: "member" },
  { path: "workstations", label: "Workstations", need: "admin" },
  { path: "repositories", label: "Repositories", need: "admin" },
  { path: "api-keys", label: "API keys", need: "admin" },
  { path: "members", label: "Members", need: "member" },
  { path: "audit", label: "Audit log", need: "admin" },
  { path: "usage", label: "Usage", need: "admin" },
  { path: "webhooks", label: "Webhooks", need: "admin" },
  { path: "notifications", label: "Notifications", need: "admin" },
];
