package cloudtest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// API versions the server speaks.
const (
	VersionVPC = "2016-04-28"
	VersionECS = "2014-05-26"
	VersionSTS = "2015-04-01"
)

// maxSkew is how far x-acs-date may be from the server's clock.
const maxSkew = 15 * time.Minute

// Call is one API call the server answered.
type Call struct {
	Action string
	Params url.Values
	// Code is the error code answered, "" on success.
	Code string
}

// Server is a running local API server.
type Server struct {
	ln  net.Listener
	srv *http.Server

	mu     sync.Mutex
	world  *World
	calls  []Call
	nonces map[string]bool
	// throttled counts the calls throttled so far, by action.
	throttled map[string]int
	mdTokens  map[string]time.Time
}

// Start serves the world on 127.0.0.1 (addr "" picks a free port).
func Start(w *World, addr string) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || (host != "127.0.0.1" && host != "localhost") {
		return nil, fmt.Errorf("listen address %q: loopback only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, world: w, nonces: map[string]bool{}, throttled: map[string]int{}, mdTokens: map[string]time.Time{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the endpoint to give --cloud-endpoint.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// SetWorld replaces the world (a test's next scenario).
func (s *Server) SetWorld(w *World) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.world, s.calls, s.throttled = w, nil, map[string]int{}
}

// Calls returns the calls answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// apiErr is an error answer of the RPC API.
type apiErr struct {
	status  int
	code    string
	message string
	action  string // RAM action of a denial
}

func (e *apiErr) Error() string { return e.code + ": " + e.message }

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := strings.ToUpper(hex.EncodeToString(b))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/latest/"):
		s.metadata(w, r)
		return
	case r.Header.Get("x-acs-action") == "" && r.Method == http.MethodPost:
		s.sts(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeErr(w, r, &apiErr{status: 400, code: "InvalidRequest", message: err.Error()})
		return
	}
	action := r.Header.Get("x-acs-action")
	params := r.URL.Query()
	resp, aerr := s.handle(r, action, params, body)
	s.mu.Lock()
	c := Call{Action: action, Params: params}
	if aerr != nil {
		c.Code = aerr.code
	}
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if aerr != nil {
		writeErr(w, r, aerr)
		return
	}
	resp["RequestId"] = newRequestID()
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(resp)
}

// writeErr answers in the documented error body (reference/Error.json).
func writeErr(w http.ResponseWriter, r *http.Request, e *apiErr) {
	id := newRequestID()
	body := map[string]any{
		"RequestId": id,
		"HostId":    r.Host,
		"Code":      e.code,
		"Message":   e.message,
		"Recommend": "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.code) + "&requestId=" + id,
	}
	if e.action != "" {
		body["AccessDeniedDetail"] = map[string]any{"AuthAction": e.action}
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) handle(r *http.Request, action string, params url.Values, body []byte) (map[string]any, *apiErr) {
	s.mu.Lock()
	world := s.world
	s.mu.Unlock()
	if aerr := s.verify(r, body, world); aerr != nil {
		return nil, aerr
	}
	product, known := actions[action]
	if !known {
		return nil, &apiErr{status: 404, code: "InvalidAction.NotFound", message: "Specified api is not found, please check your url and method."}
	}
	if v := r.Header.Get("x-acs-version"); v != product.version {
		return nil, &apiErr{status: 400, code: "InvalidVersion", message: fmt.Sprintf("Specified parameter Version %q is not valid for %s.", v, action)}
	}
	ram := product.prefix + ":" + action
	for _, d := range world.Deny {
		if d == ram {
			return nil, &apiErr{status: 403, code: "Forbidden.RAM", message: "User not authorized to operate on the specified resource, or this API doesn't support RAM.", action: ram}
		}
	}
	if n, ok := world.Throttle[action]; ok {
		s.mu.Lock()
		done := s.throttled[action]
		throttle := n < 0 || done < n
		if throttle {
			s.throttled[action]++
		}
		s.mu.Unlock()
		if throttle {
			return nil, &apiErr{status: 400, code: "Throttling.User", message: "Request was denied due to user flow control."}
		}
	}
	if product.regional {
		if rid := params.Get("RegionId"); rid != world.Region {
			return nil, &apiErr{status: 400, code: "InvalidRegionId.NotFound", message: fmt.Sprintf("The specified RegionId %q does not exist.", rid)}
		}
	}
	return product.handler(world, params)
}

// verify checks the ACS3-HMAC-SHA256 signature of an API call.
func (s *Server) verify(r *http.Request, body []byte, world *World) *apiErr {
	auth := r.Header.Get("Authorization")
	algo, rest, _ := strings.Cut(auth, " ")
	if algo != "ACS3-HMAC-SHA256" {
		return &apiErr{status: 400, code: "IncompleteSignature", message: "The request signature does not conform to Aliyun standards: Authorization is not ACS3-HMAC-SHA256."}
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	var key *Key
	for i := range world.Keys {
		if world.Keys[i].ID == fields["Credential"] {
			key = &world.Keys[i]
		}
	}
	if key == nil {
		// The real API names the key in this message; so does this one,
		// which lets tests prove the client redacts it.
		return &apiErr{status: 404, code: "InvalidAccessKeyId.NotFound", message: "Specified access key is not found: " + fields["Credential"]}
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, h := range []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"} {
		if !contains(signed, h) {
			return &apiErr{status: 400, code: "IncompleteSignature", message: "The request signature does not sign header " + h + "."}
		}
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != r.Header.Get("x-acs-content-sha256") {
		return &apiErr{status: 400, code: "InvalidParameter.ContentSHA256", message: "x-acs-content-sha256 does not match the body."}
	}
	date, err := time.Parse("2006-01-02T15:04:05Z", r.Header.Get("x-acs-date"))
	if err != nil || time.Since(date) > maxSkew || time.Until(date) > maxSkew {
		return &apiErr{status: 400, code: "InvalidTimeStamp.Expired", message: "Specified time stamp or date value is expired."}
	}
	canon := canonicalRequest(r, signed, hex.EncodeToString(sum[:]))
	h := sha256.Sum256([]byte(canon))
	mac := hmac.New(sha256.New, []byte(key.Secret))
	mac.Write([]byte("ACS3-HMAC-SHA256\n" + hex.EncodeToString(h[:])))
	if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(fields["Signature"])) {
		return &apiErr{status: 400, code: "SignatureDoesNotMatch", message: "Specified signature is not matched with our calculation."}
	}
	nonce := r.Header.Get("x-acs-signature-nonce")
	s.mu.Lock()
	used := s.nonces[nonce]
	s.nonces[nonce] = true
	s.mu.Unlock()
	if used || nonce == "" {
		return &apiErr{status: 400, code: "SignatureNonceUsed", message: "Specified signature nonce was used already."}
	}
	if key.Token != "" || r.Header.Get("x-acs-security-token") != "" {
		if !contains(signed, "x-acs-security-token") || r.Header.Get("x-acs-security-token") != key.Token {
			return &apiErr{status: 400, code: "InvalidSecurityToken.MismatchWithAccessKey", message: "Specified SecurityToken mismatch with the AccessKey."}
		}
	}
	if key.Expired {
		return &apiErr{status: 400, code: "InvalidSecurityToken.Expired", message: "Specified SecurityToken is expired."}
	}
	return nil
}

// canonicalRequest builds the V3 canonical request: method, URI, the query
// sorted and percent-encoded (RFC 3986), the signed headers (lower-case,
// trimmed, sorted) and the payload hash.
func canonicalRequest(r *http.Request, signed []string, payloadHash string) string {
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var qs []string
	for _, k := range keys {
		for _, v := range q[k] {
			qs = append(qs, percent(k)+"="+percent(v))
		}
	}
	names := append([]string(nil), signed...)
	sort.Strings(names)
	var hb strings.Builder
	for _, n := range names {
		v := r.Header.Get(n)
		if n == "host" {
			v = r.Host
		}
		hb.WriteString(n + ":" + strings.TrimSpace(v) + "\n")
	}
	uri := r.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	return strings.Join([]string{r.Method, uri, strings.Join(qs, "&"), hb.String(), strings.Join(names, ";"), payloadHash}, "\n")
}

// percent encodes all but RFC 3986's unreserved characters.
func percent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// sts answers AssumeRoleWithOIDC (anonymous: the OIDC token is the proof).
func (s *Server) sts(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	s.mu.Lock()
	world := s.world
	s.calls = append(s.calls, Call{Action: r.Form.Get("Action"), Params: r.Form})
	s.mu.Unlock()
	role := world.OIDC
	switch {
	case r.Form.Get("Action") != "AssumeRoleWithOIDC" || r.Form.Get("Version") != VersionSTS:
		writeErr(w, r, &apiErr{status: 404, code: "InvalidAction.NotFound", message: "Specified api is not found, please check your url and method."})
	case role == nil || r.Form.Get("RoleArn") != role.RoleARN || r.Form.Get("OIDCProviderArn") != role.ProviderARN:
		writeErr(w, r, &apiErr{status: 404, code: "EntityNotExist.Role", message: "The role does not exist or the OIDC provider does not match."})
	case r.Form.Get("OIDCToken") != role.Token:
		writeErr(w, r, &apiErr{status: 400, code: "AuthenticationFail.OIDCToken.Invalid", message: "The OIDC token is invalid."})
	default:
		exp := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z")
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"RequestId":       newRequestID(),
			"AssumedRoleUser": map[string]any{"AssumedRoleId": "3315779489546000:" + r.Form.Get("RoleSessionName"), "Arn": role.RoleARN + "/" + r.Form.Get("RoleSessionName")},
			"Credentials":     map[string]any{"AccessKeyId": role.Issues.ID, "AccessKeySecret": role.Issues.Secret, "SecurityToken": role.Issues.Token, "Expiration": exp},
		})
	}
}

// metadata answers the ECS instance metadata service's token and RAM role
// credentials, in hardened mode (a session token is required).
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	world := s.world
	s.calls = append(s.calls, Call{Action: "metadata " + r.Method + " " + r.URL.Path})
	s.mu.Unlock()
	if r.URL.Path == "/latest/api/token" && r.Method == http.MethodPut {
		if r.Header.Get("X-aliyun-ecs-metadata-token-ttl-seconds") == "" {
			http.Error(w, "missing ttl", http.StatusBadRequest)
			return
		}
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		tok := hex.EncodeToString(b)
		s.mu.Lock()
		s.mdTokens[tok] = time.Now().Add(time.Minute)
		s.mu.Unlock()
		_, _ = io.WriteString(w, tok)
		return
	}
	s.mu.Lock()
	exp, ok := s.mdTokens[r.Header.Get("X-aliyun-ecs-metadata-token")]
	s.mu.Unlock()
	if !ok || time.Now().After(exp) {
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	role, found := strings.CutPrefix(r.URL.Path, "/latest/meta-data/ram/security-credentials/")
	if !found || world.ECSRole == nil || role != world.ECSRole.Name {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	now := time.Now().UTC()
	life := world.ECSRole.ExpiresIn
	if life == 0 {
		life = 6 * time.Hour
	}
	w.Header().Set("Content-Type", "text/plain")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"AccessKeyId": world.ECSRole.Issues.ID, "AccessKeySecret": world.ECSRole.Issues.Secret, "SecurityToken": world.ECSRole.Issues.Token,
		"Expiration": now.Add(life).Format("2006-01-02T15:04:05Z"), "LastUpdated": now.Format("2006-01-02T15:04:05Z"), "Code": "Success",
	})
}
