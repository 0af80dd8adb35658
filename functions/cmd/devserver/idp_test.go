package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDevSignIn runs make run's e-mail link sign-in over HTTP as the
// console's Firebase Auth SDK does: the link is "sent" (printed and kept in
// the outbox), exchanged once for an ID token that the API accepts for an
// invited member, refreshed, and refused to anyone but this machine.
func TestDevSignIn(t *testing.T) {
	// Every interface, so a call from this machine's other addresses can be
	// tried too.
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	out := serveOn(t, ln, nil)
	api := baseURL(ln)
	admin := regexp.MustCompile(`Admin token \(Authorization: Bearer \.\.\.\): (\S+)`).FindStringSubmatch(out.String())[1]

	// The console is told to sign in through the stand-in.
	var settings struct {
		IdentityPlatform struct {
			ProjectID string `json:"project_id"`
			Emulator  string `json:"emulator"`
		} `json:"identity_platform"`
		TokenSignIn bool `json:"token_sign_in"`
	}
	expectJSON(t, http.StatusOK, &settings)(send(t, "GET", api+"/console/config.json", "", nil))
	if settings.IdentityPlatform.Emulator != api+"/dev/idp" || settings.IdentityPlatform.ProjectID != devProject || !settings.TokenSignIn {
		t.Fatalf("config.json = %+v", settings)
	}
	for _, want := range []string{"Console: " + api + "/console/", "API reference: " + api + "/docs/", "invited member's e-mail"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the banner lacks %q:\n%s", want, out.String())
		}
	}

	// A tenant with Ada invited as its admin.
	var tenant struct {
		ID string `json:"id"`
	}
	expectJSON(t, http.StatusCreated, &tenant)(send(t, "POST", api+"/v1/tenants", admin, map[string]string{"name": "Acme", "slug": "acme"}))
	expectJSON(t, http.StatusCreated, nil)(send(t, "POST", api+"/v1/tenants/"+tenant.ID+"/members", admin,
		map[string]string{"email": "ada@example.com", "role": "admin"}))

	toolkit := api + "/identitytoolkit.googleapis.com/v1/accounts:"
	sendLink := func(email string) string {
		t.Helper()
		var sent struct {
			Email string `json:"email"`
		}
		expectJSON(t, http.StatusOK, &sent)(send(t, "POST", toolkit+"sendOobCode?key=local", "", map[string]any{
			"requestType": "EMAIL_SIGNIN", "email": email, "continueUrl": api + "/console/", "canHandleCodeInApp": true,
			"clientType": "CLIENT_TYPE_WEB"}))
		var box struct {
			Link string `json:"link"`
		}
		expectJSON(t, http.StatusOK, &box)(send(t, "GET", api+"/dev/idp/outbox?email="+url.QueryEscape(strings.ToUpper(email)), "", nil))
		if !strings.Contains(out.String(), "devserver: sign-in link for "+email+": "+box.Link+"\n") {
			t.Fatalf("the link in the outbox, %s, was not printed:\n%s", box.Link, out.String())
		}
		return box.Link
	}
	link := sendLink("ada@example.com")
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != api+"/console/" || q.Get("mode") != "signIn" || q.Get("apiKey") != "local" || q.Get("oobCode") == "" {
		t.Fatalf("link %s is not a sign-in link back to the console", link)
	}
	code := q.Get("oobCode")

	// A wrong code, or the right one for another address, signs nobody in.
	signIn := func(email, code string) (int, []byte) {
		return send(t, "POST", api+"/dev/idp/identitytoolkit.googleapis.com/v1/accounts:signInWithEmailLink?key=local", "",
			map[string]string{"email": email, "oobCode": code})
	}
	wantIDPError(t, "a wrong code", http.StatusBadRequest, "INVALID_OOB_CODE")(signIn("ada@example.com", code+"x"))
	wantIDPError(t, "another address", http.StatusBadRequest, "INVALID_EMAIL")(signIn("grace@example.com", code))

	var signedIn struct {
		IDToken      string `json:"idToken"`
		RefreshToken string `json:"refreshToken"`
		ExpiresIn    string `json:"expiresIn"`
		LocalID      string `json:"localId"`
		Email        string `json:"email"`
	}
	status, body := signIn("Ada@Example.com", code)
	expectJSON(t, http.StatusOK, &signedIn)(status, body)
	if signedIn.IDToken == "" || signedIn.RefreshToken == "" || signedIn.ExpiresIn != "3600" || signedIn.Email != "ada@example.com" {
		t.Fatalf("signInWithEmailLink = %s", body)
	}
	wantIDPError(t, "the code again", http.StatusBadRequest, "INVALID_OOB_CODE")(signIn("ada@example.com", code))
	// Identity Platform's shape.
	var claims struct {
		Iss, Aud, Sub, Email string
		EmailVerified        bool `json:"email_verified"`
		Iat, Exp             int64
		AuthTime             int64 `json:"auth_time"`
		Firebase             map[string]any
	}
	parts := strings.Split(signedIn.IDToken, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil || claims.Iss != "https://securetoken.google.com/"+devProject ||
		claims.Aud != devProject || claims.Sub != signedIn.LocalID || claims.Email != "ada@example.com" || !claims.EmailVerified ||
		claims.Exp-claims.Iat != 3600 || claims.AuthTime != claims.Iat || claims.Firebase["sign_in_provider"] != "emailLink" || claims.Firebase["tenant"] != nil {
		t.Fatalf("ID token claims: %s", payload)
	}

	// The API takes the token: Ada is her tenant's admin.
	me := func(token string) (int, []byte) { return send(t, "GET", api+"/v1/me", token, nil) }
	var who struct {
		Email       string `json:"email"`
		Issuer      string `json:"issuer"`
		Subject     string `json:"subject"`
		Memberships []struct {
			TenantID string `json:"tenant_id"`
			Role     string `json:"role"`
		} `json:"memberships"`
	}
	status, body = me(signedIn.IDToken)
	expectJSON(t, http.StatusOK, &who)(status, body)
	if who.Email != "ada@example.com" || who.Issuer != "https://securetoken.google.com/"+devProject || who.Subject != signedIn.LocalID ||
		len(who.Memberships) != 1 || who.Memberships[0].TenantID != tenant.ID || who.Memberships[0].Role != "admin" {
		t.Fatalf("GET /v1/me with Ada's ID token = %s", body)
	}

	// The SDK's account lookup.
	var account struct {
		Users []struct {
			LocalID       string `json:"localId"`
			Email         string `json:"email"`
			EmailVerified bool   `json:"emailVerified"`
		} `json:"users"`
	}
	expectJSON(t, http.StatusOK, &account)(send(t, "POST", toolkit+"lookup?key=local", "", map[string]string{"idToken": signedIn.IDToken}))
	if len(account.Users) != 1 || account.Users[0].Email != "ada@example.com" || !account.Users[0].EmailVerified ||
		account.Users[0].LocalID != signedIn.LocalID {
		t.Fatalf("accounts:lookup = %+v", account)
	}
	wantIDPError(t, "a lookup with a made-up token", http.StatusBadRequest, "INVALID_ID_TOKEN")(
		send(t, "POST", toolkit+"lookup?key=local", "", map[string]string{"idToken": "e30.e30.x"}))

	// Refreshed, the token still names Ada.
	refresh := func(token string) (int, []byte) {
		return sendForm(t, api+"/securetoken.googleapis.com/v1/token?key=local", "application/x-www-form-urlencoded",
			strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}.Encode()))
	}
	var refreshed struct {
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
		UserID       string `json:"user_id"`
	}
	status, body = refresh(signedIn.RefreshToken)
	expectJSON(t, http.StatusOK, &refreshed)(status, body)
	if refreshed.IDToken == "" || refreshed.RefreshToken != signedIn.RefreshToken || refreshed.UserID != signedIn.LocalID {
		t.Fatalf("refresh = %s", body)
	}
	status, body = me(refreshed.IDToken)
	expectJSON(t, http.StatusOK, &who)(status, body)
	if who.Email != "ada@example.com" || who.Subject != signedIn.LocalID {
		t.Fatalf("GET /v1/me with the refreshed token = %s", body)
	}
	wantIDPError(t, "a made-up refresh token", http.StatusBadRequest, "INVALID_REFRESH_TOKEN")(refresh("nope"))

	// Someone nobody invited gets a token, which the API refuses.
	grace := sendLink("grace@example.com")
	gu, _ := url.Parse(grace)
	status, body = signIn("grace@example.com", gu.Query().Get("oobCode"))
	expectJSON(t, http.StatusOK, &signedIn)(status, body)
	if status, body := me(signedIn.IDToken); status != http.StatusUnauthorized || !strings.Contains(string(body), `"not_a_member"`) {
		t.Fatalf("GET /v1/me for someone not invited = %d %s", status, body)
	}

	// Nobody else may use it: from another address of this machine (the
	// peer is not loopback), the stand-in refuses, and the API still serves.
	other := nonLoopbackAddress(t)
	if other == nil {
		t.Log("this machine has no address but loopback: the remote refusal is covered by TestDevSignInLoopbackOnly alone")
		return
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	remote := "http://" + net.JoinHostPort(other.String(), port)
	for _, try := range []struct{ method, path string }{
		{"POST", "/identitytoolkit.googleapis.com/v1/accounts:sendOobCode?key=local"},
		{"POST", "/dev/idp/identitytoolkit.googleapis.com/v1/accounts:signInWithEmailLink?key=local"},
		{"POST", "/securetoken.googleapis.com/v1/token?key=local"},
		{"GET", "/dev/idp/outbox?email=ada@example.com"},
	} {
		status, body := send(t, try.method, remote+try.path, "", map[string]string{})
		wantIDPError(t, try.path+" from "+other.String(), http.StatusForbidden, "PERMISSION_DENIED")(status, body)
	}
	if status, body := send(t, "GET", remote+"/health/", "", nil); status != http.StatusOK {
		t.Fatalf("GET /health/ from %s = %d %s", other, status, body)
	}
}

// TestDevSignInLoopbackOnly: the stand-in answers only a caller on this
// machine that asked for this machine by name (no DNS rebinding).
func TestDevSignInLoopbackOnly(t *testing.T) {
	idp, err := newDevIDP(devProject, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		peer, host string
		ok         bool
	}{
		{"127.0.0.1:5000", "127.0.0.1:8080", true},
		{"[::1]:5000", "localhost:8080", true},
		{"[::1]:5000", "[::1]:8080", true},
		{"192.0.2.7:5000", "127.0.0.1:8080", false},
		{"10.0.0.2:5000", "10.0.0.1:8080", false},
		{"127.0.0.1:5000", "attacker.example:8080", false},
		{"127.0.0.1:5000", "localhost.attacker.example", false},
	} {
		r := httptest.NewRequest("GET", "http://"+c.host+"/dev/idp/outbox?email=ada@example.com", nil)
		r.RemoteAddr = c.peer
		w := httptest.NewRecorder()
		idp.ServeHTTP(w, r)
		if got := w.Code != http.StatusForbidden; got != c.ok {
			t.Errorf("peer %s asking for %s: %d %s", c.peer, c.host, w.Code, w.Body)
		}
	}
}

// TestDevSignInLinkExpires: a link is good for oobCodeTTL, and its tenant
// must be the one signing in.
func TestDevSignInLinkExpires(t *testing.T) {
	idp, err := newDevIDP(devProject, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	idp.now = func() time.Time { return now }
	do := func(path string, body any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		r := httptest.NewRequest("POST", "http://127.0.0.1:8080"+path, bytes.NewReader(b))
		r.RemoteAddr = "127.0.0.1:5000"
		w := httptest.NewRecorder()
		idp.ServeHTTP(w, r)
		return w
	}
	send := func() string {
		w := do("/identitytoolkit.googleapis.com/v1/accounts:sendOobCode", map[string]any{"requestType": "EMAIL_SIGNIN",
			"email": "ada@example.com", "continueUrl": "http://127.0.0.1:8080/console/", "canHandleCodeInApp": true, "tenantId": "acme-x1"})
		if w.Code != http.StatusOK {
			t.Fatalf("sendOobCode = %d %s", w.Code, w.Body)
		}
		u, _ := url.Parse(idp.outbox["ada@example.com"])
		if u.Query().Get("tenantId") != "acme-x1" {
			t.Fatalf("the link does not name its tenant: %s", u)
		}
		return u.Query().Get("oobCode")
	}
	signIn := "/identitytoolkit.googleapis.com/v1/accounts:signInWithEmailLink"
	code := send()
	if w := do(signIn, map[string]string{"email": "ada@example.com", "oobCode": code}); !strings.Contains(w.Body.String(), "TENANT_ID_MISMATCH") {
		t.Errorf("signing in outside the link's tenant = %d %s", w.Code, w.Body)
	}
	now = now.Add(oobCodeTTL + time.Second)
	if w := do(signIn, map[string]string{"email": "ada@example.com", "oobCode": code, "tenantId": "acme-x1"}); !strings.Contains(w.Body.String(), "INVALID_OOB_CODE") {
		t.Errorf("an expired link = %d %s", w.Code, w.Body)
	}
	code = send()
	w := do(signIn, map[string]string{"email": "ada@example.com", "oobCode": code, "tenantId": "acme-x1"})
	var got struct {
		IDToken string `json:"idToken"`
	}
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &got) != nil {
		t.Fatalf("signInWithEmailLink = %d %s", w.Code, w.Body)
	}
	a, err := idp.parse(got.IDToken)
	if err != nil || a.tenant != "acme-x1" || a.email != "ada@example.com" {
		t.Fatalf("the token names %+v (%v)", a, err)
	}
	for _, c := range []struct{ url, want string }{
		{"https://evil.example/console/", "UNAUTHORIZED_DOMAIN"},
		{"javascript:alert(1)", "UNAUTHORIZED_DOMAIN"},
	} {
		w := do("/identitytoolkit.googleapis.com/v1/accounts:sendOobCode", map[string]any{"requestType": "EMAIL_SIGNIN",
			"email": "ada@example.com", "continueUrl": c.url, "canHandleCodeInApp": true})
		if !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("continueUrl %s = %d %s", c.url, w.Code, w.Body)
		}
	}
}

// send sends body (JSON, unless nil) with the bearer token (unless "").
func send(t *testing.T, method, url, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return roundTrip(t, req)
}

func sendForm(t *testing.T, url, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return roundTrip(t, req)
}

func roundTrip(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// expectJSON checks an answer's status and decodes its body into v
// (unless nil).
func expectJSON(t *testing.T, want int, v any) func(int, []byte) {
	t.Helper()
	return func(status int, body []byte) {
		t.Helper()
		if status != want {
			t.Fatalf("HTTP %d, want %d: %s", status, want, body)
		}
		if v != nil {
			if err := json.Unmarshal(body, v); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
		}
	}
}

// wantIDPError checks an answer is Google's error shape with the message.
func wantIDPError(t *testing.T, what string, status int, message string) func(int, []byte) {
	t.Helper()
	return func(got int, body []byte) {
		t.Helper()
		var e struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if got != status || json.Unmarshal(body, &e) != nil || e.Error.Code != status ||
			strings.SplitN(e.Error.Message, " : ", 2)[0] != message {
			t.Fatalf("%s: HTTP %d %s, want %d %s", what, got, body, status, message)
		}
	}
}

// nonLoopbackAddress is an address of this machine other than loopback
// (nil if it has none).
func nonLoopbackAddress(t *testing.T) net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Logf("listing addresses: %v", err)
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	return nil
}
