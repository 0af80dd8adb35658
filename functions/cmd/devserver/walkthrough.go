package main

import "strings"

// walkthrough is the tour printed at start and shown in the README: paste it
// into a shell (it needs only curl and sed). A test runs it against a live
// server, so it stays true.
const walkthrough = `export API=%API% TOKEN=%TOKEN%
curl -s $API/health/
curl -s $API/ready
TENANT=$(curl -s -X POST $API/v1/tenants -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"Acme","slug":"acme"}' | sed -E 's/.*"id":"([^"]+)".*/\1/'); echo "tenant: $TENANT"
LICENSE=$(curl -s -X POST $API/v1/tenants/$TENANT/licenses -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"product":"coditect","seats":2,"lease_ttl_seconds":60}'); echo "$LICENSE"
KEY=$(echo "$LICENSE" | sed -E 's/.*"key":"([^"]+)".*/\1/')
LICENSE_ID=$(echo "$LICENSE" | sed -E 's/^\{"id":"([^"]+)".*/\1/')
SESSION=$(curl -s -X POST $API/v1/acquire -H 'Content-Type: application/json' \
  -d '{"license_key":"'$KEY'","fingerprint":"laptop-1","hostname":"laptop-1","user":"ada"}' \
  | sed -E 's/.*"session_id":"([^"]+)".*/\1/'); echo "session: $SESSION"
curl -s -X POST $API/v1/heartbeat -H 'Content-Type: application/json' -d '{"session_id":"'$SESSION'"}'
curl -s $API/v1/tenants/$TENANT/licenses/$LICENSE_ID -H "Authorization: Bearer $TOKEN"
curl -s $API/v1/tenants/$TENANT/licenses/$LICENSE_ID/sessions -H "Authorization: Bearer $TOKEN"
curl -s -X POST $API/v1/release -H 'Content-Type: application/json' -d '{"session_id":"'$SESSION'"}'
curl -s -X POST $API/internal/cleanup -o /dev/null -w 'cleanup: %{http_code}\n'
curl -s "$API/v1/tenants/$TENANT/usage?group_by=user" -H "Authorization: Bearer $TOKEN"
curl -s -X POST $API/v1/tenants/$TENANT/members -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"email":"ada@example.com","role":"admin"}'
curl -s $API/v1/tenants/$TENANT/members -H "Authorization: Bearer $TOKEN"
curl -s $API/v1/me -H "Authorization: Bearer $TOKEN"
KEY=$(curl -s -X POST $API/v1/tenants/$TENANT/licenses/$LICENSE_ID/rotate-key -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"grace_seconds":3600}' | sed -E 's/.*"key":"([^"]+)".*/\1/'); echo "new key: ${KEY:0:12}..."
SESSION=$(curl -s -X POST $API/v1/acquire -H 'Content-Type: application/json' \
  -d '{"license_key":"'$KEY'","fingerprint":"laptop-2","user":"grace"}' | sed -E 's/.*"session_id":"([^"]+)".*/\1/')
DIGEST=$(curl -s $API/v1/tenants/$TENANT/licenses/$LICENSE_ID/sessions -H "Authorization: Bearer $TOKEN" \
  | sed -E 's/.*"session_digest":"([^"]+)".*/\1/'); echo "session digest: $DIGEST"
curl -s -X DELETE $API/v1/tenants/$TENANT/licenses/$LICENSE_ID/sessions/$DIGEST -H "Authorization: Bearer $TOKEN" \
  -o /dev/null -w 'end session: %{http_code}\n'
curl -s -X POST $API/v1/heartbeat -H 'Content-Type: application/json' -d '{"session_id":"'$SESSION'"}' \
  -o /dev/null -w 'heartbeat of the ended session: %{http_code}\n'
curl -s -X POST $API/v1/tenants/$TENANT/licenses/$LICENSE_ID/sessions:revoke-all -H "Authorization: Bearer $TOKEN"
`

func walkthroughFor(api, token string) string {
	return strings.NewReplacer("%API%", api, "%TOKEN%", token).Replace(walkthrough)
}

// banner is what make run prints once it serves. emailLink: the console
// signs people in through the local stand-in for Identity Platform.
func banner(api, token string, emailLink bool) string {
	signIn := "  Sign in to the console with the admin token.\n"
	if emailLink {
		signIn = "  Sign in to the console with the admin token, or as an invited member's e-mail\n" +
			"  (make run sends no e-mail: the sign-in link is printed here).\n"
	}
	return "\n" +
		"  License API listening on " + api + "\n" +
		"  Admin token (Authorization: Bearer ...): " + token + "\n" +
		"  Console: " + api + "/console/\n" +
		"  API reference: " + api + "/docs/\n" +
		signIn + "\n" +
		"  Try it (paste into a shell):\n\n" +
		walkthroughFor(api, token) + "\n"
}
