package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/shared/jwtauth"
)

// make run's identity provider: a stand-in for the part of Google's
// Identity Toolkit (Identity Platform) API that the console's Firebase Auth
// SDK calls to sign a person in with an e-mail link, so the console's real
// sign-in runs locally with no Google project and no e-mail. The SDK, once
// connectAuthEmulator points it here, calls
//
//	<origin>/identitytoolkit.googleapis.com/v1/accounts:sendOobCode      send the link
//	<origin>/identitytoolkit.googleapis.com/v1/accounts:signInWithEmailLink
//	<origin>/identitytoolkit.googleapis.com/v1/accounts:lookup          the account
//	<origin>/securetoken.googleapis.com/v1/token                        refresh
//
// at the root of the origin: connectAuthEmulator drops any path of the
// address it is given. The devserver serves them there and, for scripts
// and tests, under /dev/idp/ too, beside /dev/idp/outbox?email=, the latest
// link sent to an address. "Sending" the e-mail prints the link to make
// run's output.
//
// Its ID tokens have Identity Platform's shape (issuer
// https://securetoken.google.com/<project>, audience the project, the
// tenant in firebase.tenant) and are checked by the API with the real
// verifier (shared/jwtauth), which fetches the stand-in's keys over HTTPS
// from a loopback server of its own. Only this machine may call it: anyone
// who could would be able to sign in as any e-mail address.

// devProject is the project the stand-in's tokens name.
const devProject = "license-server-local"

// devIDPPrefix is where the devserver serves the stand-in (and the path
// of the address the console is given).
const devIDPPrefix = "/dev/idp"

// The stand-in's lifetimes: Identity Platform's ID tokens last an hour;
// its sign-in links a few hours, ours less.
const (
	idTokenTTL = time.Hour
	oobCodeTTL = 30 * time.Minute
	// maxPending bounds the links and refresh tokens kept in memory.
	maxPending = 10000
	// maxIDPBody bounds a request's body.
	maxIDPBody = 64 << 10
)

// Google's host names, the first segment of the paths the SDK calls.
const (
	identityToolkitHost = "identitytoolkit.googleapis.com"
	secureTokenHost     = "securetoken.googleapis.com"
)

type devIDP struct {
	project string
	key     *rsa.PrivateKey
	kid     string
	// logf prints to make run's output (the "e-mail").
	logf func(format string, args ...any)
	now  func() time.Time

	mu      sync.Mutex
	codes   map[string]pendingLink // oobCode → the link it is in
	outbox  map[string]string      // e-mail → latest link sent to it
	refresh map[string]account     // refresh token → whose
}

type pendingLink struct {
	account
	expires time.Time
}

// account is a person of the stand-in: an e-mail address in an Identity
// Platform tenant ("": the project's own users).
type account struct {
	email, tenant string
	authTime      time.Time
}

func newDevIDP(project string, logf func(string, ...any)) (*devIDP, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating the sign-in stand-in's key: %w", err)
	}
	return &devIDP{project: project, key: key, kid: randomID(8), logf: logf, now: time.Now,
		codes: map[string]pendingLink{}, outbox: map[string]string{}, refresh: map[string]account{}}, nil
}

// issuer is what Identity Platform's tokens name as their issuer.
func (p *devIDP) issuer() string { return "https://securetoken.google.com/" + p.project }

// startVerifier serves the stand-in's public key as a JWKS on a loopback
// HTTPS server and returns the API's verifier for its tokens, as
// production's is for Google's (jwtauth fetches keys over HTTPS only).
// stop closes both.
func (p *devIDP) startVerifier(ctx context.Context) (v *jwtauth.Verifier, stop func(), err error) {
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": p.kid,
		"n": base64.RawURLEncoding.EncodeToString(p.key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(p.key.E)).Bytes()),
	}}})
	if err != nil {
		return nil, nil, err
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks) //nolint:errcheck // the verifier retries
	}))
	v, err = jwtauth.New(ctx, jwtauth.Config{JWKSURL: srv.URL + "/jwks", Issuer: p.issuer(), Audience: p.project,
		HTTPClient: srv.Client()})
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := v.WaitReady(wait); err != nil {
		v.Close()
		srv.Close()
		return nil, nil, fmt.Errorf("the sign-in stand-in's keys: %w", err)
	}
	return v, func() { v.Close(); srv.Close() }, nil
}

// idpError is an answer in the shape of Google's API errors, whose message
// the SDK turns into its error code (INVALID_OOB_CODE → auth/invalid-action-code).
type idpError struct {
	status  int
	message string
}

func (e *idpError) Error() string { return e.message }

func idpErr(status int, message string) *idpError { return &idpError{status: status, message: message} }

func (p *devIDP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopbackCaller(r) {
		writeIDPError(w, idpErr(http.StatusForbidden,
			"PERMISSION_DENIED : only this machine may use make run's sign-in stand-in"))
		return
	}
	path := strings.TrimPrefix(r.URL.Path, devIDPPrefix)
	if path == "/outbox" {
		if r.Method != http.MethodGet {
			writeIDPError(w, idpErr(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"))
			return
		}
		p.serveOutbox(w, r)
		return
	}
	var handle func(*http.Request) (any, error)
	switch path {
	case "/" + identityToolkitHost + "/v1/accounts:sendOobCode":
		handle = p.sendOobCode
	case "/" + identityToolkitHost + "/v1/accounts:signInWithEmailLink":
		handle = p.signInWithEmailLink
	case "/" + identityToolkitHost + "/v1/accounts:lookup":
		handle = p.lookup
	case "/" + secureTokenHost + "/v1/token":
		handle = p.token
	default:
		// Said aloud: the SDK may call something this stand-in lacks.
		p.logf("sign-in stand-in: no %s %s", r.Method, path)
		writeIDPError(w, idpErr(http.StatusNotFound, "NOT_FOUND : make run's sign-in stand-in has no "+path))
		return
	}
	if r.Method != http.MethodPost {
		writeIDPError(w, idpErr(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxIDPBody)
	out, err := handle(r)
	if err != nil {
		var e *idpError
		if !errors.As(err, &e) {
			e = idpErr(http.StatusBadRequest, "INVALID_ARGUMENT : "+err.Error())
		}
		writeIDPError(w, e)
		return
	}
	writeIDPJSON(w, http.StatusOK, out)
}

// loopbackCaller: the TCP peer is this machine, and the page that called
// (the Host it asked for) is too, so no web page elsewhere can reach it by
// pointing a name of its own at 127.0.0.1 (DNS rebinding).
func loopbackCaller(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return false
	}
	return loopbackHost(r.Host)
}

// loopbackHost reports whether a host[:port] names this machine.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func writeIDPJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

func writeIDPError(w http.ResponseWriter, e *idpError) {
	writeIDPJSON(w, e.status, map[string]any{"error": map[string]any{"code": e.status, "message": e.message,
		"errors": []map[string]string{{"message": e.message, "domain": "global", "reason": "invalid"}}}})
}

func decodeJSON(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return idpErr(http.StatusBadRequest, "INVALID_ARGUMENT : the body is not the JSON expected")
	}
	return nil
}

// normalEmail is the address as the stand-in keys it, or "" if it is not one.
func normalEmail(s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != strings.TrimSpace(s) {
		return ""
	}
	return strings.ToLower(a.Address)
}

// sendOobCode "e-mails" a sign-in link: it prints it, and keeps it in the
// outbox. The link is the page to come back to (continueUrl) with the
// parameters Identity Platform's link hands it, which the SDK reads.
func (p *devIDP) sendOobCode(r *http.Request) (any, error) {
	var req struct {
		RequestType        string `json:"requestType"`
		Email              string `json:"email"`
		ContinueURL        string `json:"continueUrl"`
		CanHandleCodeInApp bool   `json:"canHandleCodeInApp"`
		TenantID           string `json:"tenantId"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.RequestType != "EMAIL_SIGNIN" {
		return nil, idpErr(http.StatusBadRequest, "INVALID_REQ_TYPE : make run's stand-in sends sign-in links only")
	}
	email := normalEmail(req.Email)
	if email == "" {
		return nil, idpErr(http.StatusBadRequest, "INVALID_EMAIL")
	}
	if !req.CanHandleCodeInApp {
		return nil, idpErr(http.StatusBadRequest, "INVALID_ARGUMENT : canHandleCodeInApp must be true for a sign-in link")
	}
	// Identity Platform's authorized domains: here, this machine.
	cont, err := url.Parse(req.ContinueURL)
	if err != nil || (cont.Scheme != "http" && cont.Scheme != "https") || !loopbackHost(cont.Host) {
		return nil, idpErr(http.StatusBadRequest, "UNAUTHORIZED_DOMAIN : the continue URL must be on this machine")
	}
	code := randomID(24)
	apiKey := r.URL.Query().Get("key")
	if apiKey == "" {
		apiKey = "local"
	}
	q := cont.Query()
	q.Set("apiKey", apiKey)
	q.Set("oobCode", code)
	q.Set("mode", "signIn")
	q.Set("lang", "en")
	if req.TenantID != "" {
		q.Set("tenantId", req.TenantID)
	}
	cont.RawQuery = q.Encode()
	link := cont.String()

	p.mu.Lock()
	now := p.now()
	for c, l := range p.codes {
		if now.After(l.expires) {
			delete(p.codes, c)
		}
	}
	if len(p.codes) >= maxPending {
		p.mu.Unlock()
		return nil, idpErr(http.StatusTooManyRequests, "QUOTA_EXCEEDED : too many sign-in links outstanding")
	}
	p.codes[code] = pendingLink{account: account{email: email, tenant: req.TenantID}, expires: now.Add(oobCodeTTL)}
	p.outbox[email] = link
	p.mu.Unlock()
	p.logf("sign-in link for %s: %s", email, link)
	return map[string]string{"kind": "identitytoolkit#GetOobConfirmationCodeResponse", "email": req.Email}, nil
}

// serveOutbox answers the latest link sent to ?email= (the Playwright
// tests and the console's "Open the link" button read it).
func (p *devIDP) serveOutbox(w http.ResponseWriter, r *http.Request) {
	email := normalEmail(r.URL.Query().Get("email"))
	p.mu.Lock()
	link, ok := p.outbox[email]
	p.mu.Unlock()
	if email == "" || !ok {
		writeIDPError(w, idpErr(http.StatusNotFound, "NOT_FOUND : no sign-in link was sent to that address"))
		return
	}
	writeIDPJSON(w, http.StatusOK, map[string]string{"link": link})
}

// signInWithEmailLink exchanges a link's code, once, for the account's
// tokens.
func (p *devIDP) signInWithEmailLink(r *http.Request) (any, error) {
	var req struct {
		Email    string `json:"email"`
		OOBCode  string `json:"oobCode"`
		TenantID string `json:"tenantId"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	email := normalEmail(req.Email)
	if email == "" {
		return nil, idpErr(http.StatusBadRequest, "INVALID_EMAIL")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	l, ok := p.codes[req.OOBCode]
	switch {
	case !ok || now.After(l.expires):
		return nil, idpErr(http.StatusBadRequest, "INVALID_OOB_CODE")
	case l.tenant != req.TenantID:
		return nil, idpErr(http.StatusBadRequest, "TENANT_ID_MISMATCH")
	case l.email != email:
		// Identity Platform's answer when the address is not the one the
		// link was sent to.
		return nil, idpErr(http.StatusBadRequest, "INVALID_EMAIL : the link was sent to another address")
	}
	delete(p.codes, req.OOBCode)
	if len(p.refresh) >= maxPending {
		return nil, idpErr(http.StatusTooManyRequests, "QUOTA_EXCEEDED : too many sessions")
	}
	a := l.account
	a.authTime = now
	idToken, err := p.mint(a, now)
	if err != nil {
		return nil, err
	}
	refresh := randomID(32)
	p.refresh[refresh] = a
	return map[string]any{"kind": "identitytoolkit#EmailLinkSigninResponse", "idToken": idToken, "email": email,
		"refreshToken": refresh, "expiresIn": strconv.Itoa(int(idTokenTTL.Seconds())), "localId": p.uid(a), "isNewUser": false}, nil
}

// lookup answers the account an ID token is of.
func (p *devIDP) lookup(r *http.Request) (any, error) {
	var req struct {
		IDToken string `json:"idToken"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	a, err := p.parse(req.IDToken)
	if err != nil {
		return nil, idpErr(http.StatusBadRequest, "INVALID_ID_TOKEN")
	}
	at := strconv.FormatInt(a.authTime.UnixMilli(), 10)
	user := map[string]any{"localId": p.uid(a), "email": a.email, "emailVerified": true, "createdAt": at, "lastLoginAt": at,
		"lastRefreshAt":    a.authTime.UTC().Format(time.RFC3339),
		"providerUserInfo": []map[string]string{{"providerId": "password", "email": a.email, "federatedId": a.email, "rawId": a.email}}}
	if a.tenant != "" {
		user["tenantId"] = a.tenant
	}
	return map[string]any{"kind": "identitytoolkit#GetAccountInfoResponse", "users": []any{user}}, nil
}

// token is securetoken's refresh: a fresh ID token for a refresh token
// (form-encoded, as Google's is).
func (p *devIDP) token(r *http.Request) (any, error) {
	if err := r.ParseForm(); err != nil {
		return nil, idpErr(http.StatusBadRequest, "INVALID_ARGUMENT : the body is not a form")
	}
	if r.PostForm.Get("grant_type") != "refresh_token" {
		return nil, idpErr(http.StatusBadRequest, "INVALID_GRANT_TYPE")
	}
	refresh := r.PostForm.Get("refresh_token")
	p.mu.Lock()
	a, ok := p.refresh[refresh]
	p.mu.Unlock()
	if !ok {
		return nil, idpErr(http.StatusBadRequest, "INVALID_REFRESH_TOKEN")
	}
	idToken, err := p.mint(a, p.now())
	if err != nil {
		return nil, err
	}
	return map[string]string{"access_token": idToken, "id_token": idToken, "expires_in": strconv.Itoa(int(idTokenTTL.Seconds())),
		"token_type": "Bearer", "refresh_token": refresh, "user_id": p.uid(a), "project_id": p.project}, nil
}

// uid is the account's stable id: the same e-mail in the same tenant is
// the same person across restarts (a member, once signed in, is bound to
// it).
func (p *devIDP) uid(a account) string {
	sum := sha256.Sum256([]byte(p.project + "\x00" + a.tenant + "\x00" + a.email))
	return hex.EncodeToString(sum[:])[:28]
}

// idClaims are what the stand-in reads back from its ID tokens.
type idClaims struct {
	jwt.RegisteredClaims
	AuthTime int64  `json:"auth_time"`
	Email    string `json:"email"`
	Firebase struct {
		Tenant string `json:"tenant"`
	} `json:"firebase"`
}

func (p *devIDP) mint(a account, now time.Time) (string, error) {
	uid := p.uid(a)
	firebase := map[string]any{"identities": map[string][]string{"email": {a.email}}, "sign_in_provider": "emailLink"}
	if a.tenant != "" {
		firebase["tenant"] = a.tenant
	}
	// A map rather than idClaims: Identity Platform's aud is a string,
	// which jwt.ClaimStrings would write as a list.
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": p.issuer(), "aud": p.project, "sub": uid, "user_id": uid,
		"iat": now.Unix(), "exp": now.Add(idTokenTTL).Unix(), "auth_time": a.authTime.Unix(),
		"email": a.email, "email_verified": true, "firebase": firebase,
	})
	t.Header["kid"] = p.kid
	s, err := t.SignedString(p.key)
	if err != nil {
		return "", fmt.Errorf("signing an ID token: %w", err)
	}
	return s, nil
}

// parse checks one of the stand-in's own ID tokens.
func (p *devIDP) parse(raw string) (account, error) {
	var c idClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return &p.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(p.issuer()), jwt.WithAudience(p.project),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(p.now))
	if err != nil {
		return account{}, err
	}
	return account{email: c.Email, tenant: c.Firebase.Tenant, authTime: time.Unix(c.AuthTime, 0)}, nil
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
