package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/alibabacloud-go/tea/tea"
)

// Kinds of PartError.
const (
	// KindDenied: RAM refused the action.
	KindDenied = "denied"
	// KindThrottled: still throttled after every retry.
	KindThrottled = "throttled"
	// KindCredentials: the credentials were refused (unknown key, bad
	// signature, expired token).
	KindCredentials = "credentials"
	// KindError: anything else (network, unexpected answer).
	KindError = "error"
)

// PartError says why a part of Facts could not be read.
type PartError struct {
	Kind string
	// Action is the RAM action of the call that failed, e.g.
	// vpc:DescribeVSwitches.
	Action string
	// Code and Message are the API's error code and message, redacted.
	Code    string
	Message string
}

func (e *PartError) Error() string {
	switch e.Kind {
	case KindDenied:
		return fmt.Sprintf("%s denied (%s): grant the RAM action %s", e.Action, e.Code, e.Action)
	case KindThrottled:
		return fmt.Sprintf("%s still throttled (%s) after retries; run again later", e.Action, e.Code)
	}
	msg := e.Message
	if e.Code != "" {
		msg = e.Code + ": " + msg
	}
	if e.Action == "" {
		return msg
	}
	return fmt.Sprintf("%s: %s", e.Action, msg)
}

// apiError is what classify reads from an SDK error.
type apiError struct {
	code    string
	status  int
	message string
}

func sdkError(err error) (apiError, bool) {
	var te *tea.SDKError
	if errors.As(err, &te) {
		return apiError{code: tea.StringValue(te.Code), status: tea.IntValue(te.StatusCode), message: tea.StringValue(te.Message)}, true
	}
	return apiError{}, false
}

// classify sorts an error of a call into a PartError kind, and whether the
// call is worth repeating.
func classify(err error) (kind string, retry bool) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return KindError, false
	}
	ae, ok := sdkError(err)
	if !ok {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return KindError, true
		}
		return KindError, false
	}
	code := ae.code
	switch {
	case strings.HasPrefix(code, "Throttling"), code == "ServiceUnavailable", code == "Busy", strings.HasSuffix(code, ".Busy"):
		return KindThrottled, true
	case code == "SignatureNonceUsed":
		// A nonce collision: the next try draws a new one.
		return KindError, true
	case strings.HasPrefix(code, "InvalidAccessKeyId"), strings.HasPrefix(code, "InvalidSecurityToken"),
		code == "SignatureDoesNotMatch", code == "IncompleteSignature", code == "InvalidAccessKeySecret",
		strings.HasPrefix(code, "Forbidden.AccessKey"), code == "InvalidTimeStamp.Expired":
		return KindCredentials, false
	case strings.HasPrefix(code, "Forbidden"), strings.HasPrefix(code, "NoPermission"), code == "UnauthorizedOperation",
		ae.status == 403:
		return KindDenied, false
	case ae.status >= 500:
		return KindError, true
	}
	return KindError, false
}

// CredentialsError means no credentials were found, or the API refused
// them. It names the sources tried, never a value.
type CredentialsError struct {
	// Tried lists the sources looked at, in order, each with what was
	// missing or wrong.
	Tried []string
	// Source is the source used when the API refused it, or when getting
	// its temporary credentials failed (Fetch).
	Source string
	Fetch  bool
	Code   string
	Msg    string
}

func (e *CredentialsError) Error() string {
	var b strings.Builder
	switch {
	case e.Fetch:
		fmt.Fprintf(&b, "could not get credentials from %s: %s", e.Source, e.Msg)
	case e.Source != "":
		fmt.Fprintf(&b, "Alibaba Cloud refused the credentials from %s (%s: %s)", e.Source, e.Code, e.Msg)
		if e.Code == "InvalidTimeStamp.Expired" {
			b.WriteString("; check this machine's clock: requests are signed with the time")
		}
	default:
		b.WriteString("no Alibaba Cloud credentials found")
	}
	if len(e.Tried) > 0 {
		b.WriteString("; tried: ")
		b.WriteString(strings.Join(e.Tried, "; "))
	}
	b.WriteString(". doctor --cloud needs read-only access: the RAM actions " + strings.Join(RAMActions(), ", "))
	return b.String()
}
