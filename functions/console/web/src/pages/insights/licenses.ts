// Every license of a tenant (all pages of GET /licenses), for the pages
// that show them all or name them by id (the Overview's gauges, the Usage
// report's license names).
import { useQuery } from "@tanstack/react-query";
import { must, type Schemas } from "../../api/client";
import { useApi } from "../../api/context";

export type License = Schemas["License"];

/** The most pages read (200 licenses each): a tenant with more sees the
 * first 2,000. */
const maxPages = 10;

export function useAllLicenses(tenantId: string, refetchInterval: number | false) {
  const api = useApi();
  return useQuery({
    queryKey: ["licenses", tenantId, "all"],
    queryFn: async () => {
      const out: License[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < maxPages; i++) {
        const page = must(
          await api.GET("/v1/tenants/{tenant_id}/licenses", {
            params: { path: { tenant_id: tenantId }, query: { limit: 200, cursor } },
          }),
        );
        out.push(...page.licenses);
        if (!page.next_cursor) return { licenses: out, complete: true };
        cursor = page.next_cursor;
      }
      return { licenses: out, complete: false };
    },
    refetchInterval,
  });
}

/** licenseName is how a page names a license by id: its product, or the id
 * alone when the license is gone (deleted since the usage was recorded). */
export function licenseName(byId: ReadonlyMap<string, License>, id: string): string {
  const l = byId.get(id);
  return l ? l.product : "deleted license";
}
