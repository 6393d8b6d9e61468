package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/credentials-go/credentials"
)

// Environment variables of the standard Alibaba Cloud credential chain.
const (
	EnvAccessKeyID     = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKeySecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSecurityToken   = "ALIBABA_CLOUD_SECURITY_TOKEN"
	EnvRoleARN         = "ALIBABA_CLOUD_ROLE_ARN"
	EnvOIDCProviderARN = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"
	EnvOIDCTokenFile   = "ALIBABA_CLOUD_OIDC_TOKEN_FILE"
	EnvRoleSession     = "ALIBABA_CLOUD_ROLE_SESSION_NAME"
	EnvVPCEndpoint     = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"
	EnvProfile         = "ALIBABA_CLOUD_PROFILE"
	EnvConfigFile      = "ALIBABA_CLOUD_CONFIG_FILE"
	EnvECSRole         = "ALIBABA_CLOUD_ECS_METADATA"
)

// metadataBase is the ECS instance metadata service.
const metadataBase = "http://100.100.100.200"

// provider is the credential of one source, in the shape the SDK takes
// (credentials.Credential). Temporary credentials (RRSA, ECS RAM role) are
// fetched on first use and again five minutes before they expire.
type provider struct {
	source   string
	redactor *Redactor

	mu      sync.Mutex
	id      string
	secret  string
	token   string
	expires time.Time
	// refresh fetches new temporary credentials; nil for static ones.
	refresh func(context.Context) (id, secret, token string, expires time.Time, err error)
}

var _ credentials.Credential = (*provider)(nil)

func (p *provider) current() (*credentials.CredentialModel, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refresh != nil && (p.id == "" || time.Until(p.expires) < 5*time.Minute) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		id, secret, token, exp, err := p.refresh(ctx)
		cancel()
		if err != nil {
			return nil, &CredentialsError{Source: p.source, Fetch: true, Msg: p.redactor.String(err.Error())}
		}
		p.redactor.Add(id, secret, token)
		p.id, p.secret, p.token, p.expires = id, secret, token, exp
	}
	// Copies: a refresh for another call must not change what this call
	// signs with.
	id, secret, token := p.id, p.secret, p.token
	typ := "access_key"
	if token != "" {
		typ = "sts"
	}
	// The SDK sends ProviderName as a header: a fixed name, not the source
	// (which can name local paths).
	name := "kubectl-acknet"
	return &credentials.CredentialModel{AccessKeyId: &id, AccessKeySecret: &secret, SecurityToken: &token, Type: &typ, ProviderName: &name}, nil
}

func (p *provider) GetCredential() (*credentials.CredentialModel, error) { return p.current() }

//nolint:revive // the SDK's credentials.Credential names it so.
func (p *provider) GetAccessKeyId() (*string, error) {
	m, err := p.current()
	if err != nil {
		return nil, err
	}
	return m.AccessKeyId, nil
}

func (p *provider) GetAccessKeySecret() (*string, error) {
	m, err := p.current()
	if err != nil {
		return nil, err
	}
	return m.AccessKeySecret, nil
}

func (p *provider) GetSecurityToken() (*string, error) {
	m, err := p.current()
	if err != nil {
		return nil, err
	}
	return m.SecurityToken, nil
}

func (p *provider) GetBearerToken() *string { s := ""; return &s }

func (p *provider) GetType() *string {
	m, err := p.current()
	if err != nil {
		s := "access_key"
		return &s
	}
	return m.Type
}

// ResolveCredentials walks the credential chain in the SDK's order:
// environment, RRSA (OIDC), the aliyun CLI's profile, the ECS RAM role.
// The first source that is configured wins; one that is configured wrongly
// is an error, not a fall-through, so a typo never silently picks another
// identity. host and scheme, when set, also receive STS and metadata calls.
func ResolveCredentials(opts Options, host, scheme string) (*provider, error) {
	getenv := opts.Env
	if getenv == nil {
		getenv = os.Getenv
	}
	red := &Redactor{}
	var tried []string

	// 1. Environment.
	id, secret := getenv(EnvAccessKeyID), getenv(EnvAccessKeySecret)
	switch {
	case id != "" && secret != "":
		tok := getenv(EnvSecurityToken)
		red.Add(id, secret, tok)
		return &provider{source: "environment (" + EnvAccessKeyID + ")", redactor: red, id: id, secret: secret, token: tok}, nil
	case id != "" || secret != "":
		return nil, &CredentialsError{Tried: []string{fmt.Sprintf("environment: only one of %s and %s is set", EnvAccessKeyID, EnvAccessKeySecret)}}
	}
	tried = append(tried, fmt.Sprintf("environment (%s, %s: not set)", EnvAccessKeyID, EnvAccessKeySecret))

	// 2. RRSA: a pod's service account token traded for a role's STS token.
	role, oidcARN, tokenFile := getenv(EnvRoleARN), getenv(EnvOIDCProviderARN), getenv(EnvOIDCTokenFile)
	switch {
	case role != "" && oidcARN != "" && tokenFile != "":
		sts := stsEndpoint(opts.Region, getenv(EnvVPCEndpoint) == "true", host, scheme)
		session := getenv(EnvRoleSession)
		return oidcProvider("RRSA (OIDC token "+tokenFile+")", red, sts, role, oidcARN, tokenFile, session), nil
	case role != "" || oidcARN != "" || tokenFile != "":
		return nil, &CredentialsError{Tried: append(tried, fmt.Sprintf("RRSA: %s, %s and %s must all be set", EnvRoleARN, EnvOIDCProviderARN, EnvOIDCTokenFile))}
	}
	tried = append(tried, "RRSA ("+EnvRoleARN+": not set)")

	// 3. The aliyun CLI's profile.
	p, why, err := cliProfile(opts, getenv, red, host, scheme)
	if err != nil {
		return nil, &CredentialsError{Tried: append(tried, err.Error())}
	}
	if p != nil {
		return p, nil
	}
	tried = append(tried, why)

	// 4. ECS RAM role, only when named: probing the metadata address from
	// a laptop would wait on a timeout for nothing.
	if role := getenv(EnvECSRole); role != "" {
		return ecsRoleProvider("ECS RAM role "+role, red, metadataURL(host, scheme), role), nil
	}
	tried = append(tried, "ECS RAM role ("+EnvECSRole+": not set; on an ECS instance set it to the instance's RAM role name)")
	return nil, &CredentialsError{Tried: tried}
}

// stsEndpoint is where AssumeRoleWithOIDC goes: the test server when
// --cloud-endpoint is loopback, else Alibaba Cloud's own STS (an OIDC token
// never goes to a proxy).
func stsEndpoint(region string, vpcEndpoint bool, host, scheme string) string {
	if host != "" && IsLoopback(host) {
		return scheme + "://" + host + "/"
	}
	if vpcEndpoint && region != "" {
		return "https://sts-vpc." + region + ".aliyuncs.com/"
	}
	if region != "" {
		return "https://sts." + region + ".aliyuncs.com/"
	}
	return "https://sts.aliyuncs.com/"
}

func metadataURL(host, scheme string) string {
	if host != "" && IsLoopback(host) {
		return scheme + "://" + host
	}
	return metadataBase
}

// cliProfileFile is the aliyun CLI's configuration, in the fields this
// reads.
type cliProfileFile struct {
	Current  string            `json:"current"`
	Profiles []cliProfileEntry `json:"profiles"`
}

type cliProfileEntry struct {
	Name            string `json:"name"`
	Mode            string `json:"mode"`
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"access_key_secret"`
	StsToken        string `json:"sts_token"`
	RAMRoleName     string `json:"ram_role_name"`
	RAMRoleARN      string `json:"ram_role_arn"`
	OIDCProviderARN string `json:"oidc_provider_arn"`
	OIDCTokenFile   string `json:"oidc_token_file"`
	RoleSessionName string `json:"ram_session_name"`
}

// cliProfile returns the provider of the CLI's current profile, nil and why
// when there is no usable file, or an error when the profile is wrong.
func cliProfile(opts Options, getenv func(string) string, red *Redactor, host, scheme string) (*provider, string, error) {
	path := getenv(EnvConfigFile)
	if path == "" {
		home := opts.Home
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		path = filepath.Join(home, ".aliyun", "config.json")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "aliyun CLI profile (" + path + ": not found)", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("aliyun CLI profile %s: %w", path, err)
	}
	var f cliProfileFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, "", fmt.Errorf("aliyun CLI profile %s: not valid JSON: %w", path, err)
	}
	name := getenv(EnvProfile)
	if name == "" {
		name = f.Current
	}
	if name == "" {
		name = "default"
	}
	for _, pr := range f.Profiles {
		if pr.Name != name {
			continue
		}
		src := fmt.Sprintf("aliyun CLI profile %q (%s, mode %s)", name, path, pr.Mode)
		switch pr.Mode {
		case "AK", "":
			if pr.AccessKeyID == "" || pr.AccessKeySecret == "" {
				return nil, "", fmt.Errorf("%s: access_key_id or access_key_secret is empty", src)
			}
			red.Add(pr.AccessKeyID, pr.AccessKeySecret)
			return &provider{source: src, redactor: red, id: pr.AccessKeyID, secret: pr.AccessKeySecret}, "", nil
		case "StsToken":
			if pr.AccessKeyID == "" || pr.AccessKeySecret == "" || pr.StsToken == "" {
				return nil, "", fmt.Errorf("%s: access_key_id, access_key_secret or sts_token is empty", src)
			}
			red.Add(pr.AccessKeyID, pr.AccessKeySecret, pr.StsToken)
			return &provider{source: src, redactor: red, id: pr.AccessKeyID, secret: pr.AccessKeySecret, token: pr.StsToken}, "", nil
		case "EcsRamRole":
			if pr.RAMRoleName == "" {
				return nil, "", fmt.Errorf("%s: ram_role_name is empty", src)
			}
			return ecsRoleProvider(src, red, metadataURL(host, scheme), pr.RAMRoleName), "", nil
		case "OIDC":
			if pr.RAMRoleARN == "" || pr.OIDCProviderARN == "" || pr.OIDCTokenFile == "" {
				return nil, "", fmt.Errorf("%s: ram_role_arn, oidc_provider_arn or oidc_token_file is empty", src)
			}
			sts := stsEndpoint(opts.Region, getenv(EnvVPCEndpoint) == "true", host, scheme)
			return oidcProvider(src, red, sts, pr.RAMRoleARN, pr.OIDCProviderARN, pr.OIDCTokenFile, pr.RoleSessionName), "", nil
		}
		return nil, "", fmt.Errorf("%s: mode %s is not supported; use mode AK, StsToken, EcsRamRole or OIDC, or export %s, %s and %s (e.g. from `aliyun sts AssumeRole`)",
			src, pr.Mode, EnvAccessKeyID, EnvAccessKeySecret, EnvSecurityToken)
	}
	return nil, "", fmt.Errorf("aliyun CLI profile %s: no profile named %q", path, name)
}

// stsCredentials is the Credentials object of STS and of the ECS metadata
// service.
type stsCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret"`
	SecurityToken   string `json:"SecurityToken"`
	Expiration      string `json:"Expiration"`
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// metadataClient never uses a proxy: the metadata service is on the
// instance's own link, and what it answers are keys.
var metadataClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}

// oidcProvider trades the OIDC token in tokenFile for a role's STS token
// (AssumeRoleWithOIDC: anonymous, the token is the proof).
func oidcProvider(src string, red *Redactor, endpoint, role, oidcARN, tokenFile, session string) *provider {
	if session == "" {
		session = "kubectl-acknet"
	}
	p := &provider{source: src, redactor: red}
	p.refresh = func(ctx context.Context) (string, string, string, time.Time, error) {
		tok, err := os.ReadFile(tokenFile)
		if err != nil {
			return "", "", "", time.Time{}, fmt.Errorf("read OIDC token: %w", err)
		}
		token := strings.TrimSpace(string(tok))
		red.Add(token)
		form := url.Values{
			"Action": {"AssumeRoleWithOIDC"}, "Version": {"2015-04-01"}, "Format": {"JSON"},
			"Timestamp": {time.Now().UTC().Format("2006-01-02T15:04:05Z")},
			"RoleArn":   {role}, "OIDCProviderArn": {oidcARN}, "OIDCToken": {token},
			"RoleSessionName": {session}, "DurationSeconds": {"3600"},
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return "", "", "", time.Time{}, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		var body struct {
			Credentials stsCredentials
			Code        string
			Message     string
		}
		status, err := doJSON(httpClient, req, &body)
		if err != nil {
			return "", "", "", time.Time{}, fmt.Errorf("sts:AssumeRoleWithOIDC: %w", err)
		}
		if status != http.StatusOK || body.Credentials.AccessKeyID == "" {
			return "", "", "", time.Time{}, fmt.Errorf("sts:AssumeRoleWithOIDC: HTTP %d %s: %s", status, body.Code, firstLine(red.String(body.Message)))
		}
		return credsOf(body.Credentials)
	}
	return p
}

// ecsRoleProvider reads the role's STS token from the instance metadata
// service, with the session token it requires in hardened mode.
func ecsRoleProvider(src string, red *Redactor, base, role string) *provider {
	p := &provider{source: src, redactor: red}
	p.refresh = func(ctx context.Context) (string, string, string, time.Time, error) {
		treq, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/latest/api/token", nil)
		if err != nil {
			return "", "", "", time.Time{}, err
		}
		treq.Header.Set("X-aliyun-ecs-metadata-token-ttl-seconds", "60")
		tresp, err := metadataClient.Do(treq)
		if err != nil {
			return "", "", "", time.Time{}, fmt.Errorf("instance metadata: %w", err)
		}
		tb, _ := io.ReadAll(io.LimitReader(tresp.Body, 4096))
		_ = tresp.Body.Close()
		if tresp.StatusCode != http.StatusOK {
			return "", "", "", time.Time{}, fmt.Errorf("instance metadata token: HTTP %d", tresp.StatusCode)
		}
		mtoken := string(tb)
		red.Add(mtoken)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/latest/meta-data/ram/security-credentials/"+url.PathEscape(role), nil)
		if err != nil {
			return "", "", "", time.Time{}, err
		}
		req.Header.Set("X-aliyun-ecs-metadata-token", mtoken)
		var body struct {
			stsCredentials
			Code string
		}
		status, err := doJSON(metadataClient, req, &body)
		if status == http.StatusNotFound {
			return "", "", "", time.Time{}, fmt.Errorf("instance metadata: no RAM role %q on this instance (HTTP 404): is it attached?", role)
		}
		if err != nil {
			return "", "", "", time.Time{}, fmt.Errorf("instance metadata: %w", err)
		}
		if status != http.StatusOK || body.Code != "Success" || body.AccessKeyID == "" {
			return "", "", "", time.Time{}, fmt.Errorf("instance metadata: role %q: HTTP %d %s (is the RAM role attached to the instance?)", role, status, body.Code)
		}
		return credsOf(body.stsCredentials)
	}
	return p
}

func credsOf(c stsCredentials) (string, string, string, time.Time, error) {
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil {
		exp = time.Now().Add(15 * time.Minute)
	}
	return c.AccessKeyID, c.AccessKeySecret, c.SecurityToken, exp, nil
}

func doJSON(client *http.Client, req *http.Request, v any) (int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return resp.StatusCode, fmt.Errorf("HTTP %d: answer is not JSON", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// Redactor replaces credential values in text. Every value the chain
// handles is added, so no error or message can carry one out.
type Redactor struct {
	mu     sync.Mutex
	values []string
}

// Add registers values to redact; empty and very short ones are ignored
// (they would blank out ordinary words).
func (r *Redactor) Add(values ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		if len(v) < 6 {
			continue
		}
		// Also as a URL would carry it (an STS token holds + / =).
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			if !slices.Contains(r.values, form) {
				r.values = append(r.values, form)
			}
		}
	}
}

// String returns s with every registered value replaced.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}
