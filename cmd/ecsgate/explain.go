package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ecsgate/ecsgate/internal/identity"
	"github.com/ecsgate/ecsgate/policy"
	"github.com/ecsgate/ecsgate/proxy"
)

// Exit statuses of `ecsgate explain`: a CI job tells allow from deny from a
// broken policy or invocation by the status alone.
const (
	exitAllow = 0
	exitDeny  = 1
	exitError = 2
)

// explainDecisionID stands in for the decision id (input.request.id): a
// fixed value keeps the output of one request the same from run to run, so
// it can be compared with a file.
const explainDecisionID = "00000000-0000-0000-0000-000000000000"

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "explain",
		Usage: "(METHOD PATH [BODY] | --request FILE)",
		Short: "Shows the policy input, the decision and the rules that fired for one request, without sending it",
		Long: `
Classifies one request and asks the policy about it exactly as ecs_policy
would, but sends nothing to the compute API. It prints the policy input (with
credentials redacted, as in decision records), the decision, and the rules
of the policy that fired (file:line and head).

The request is METHOD PATH [BODY] (BODY may be @FILE, or @- for standard
input; a body gets Content-Type: application/json unless --header sets one),
or --request FILE: a raw HTTP/1.1 request (request line, headers, blank
line, body), - for standard input. The request goes through the same
forwarded-form rules, classification and credential checks as in the
gateway; a request the gateway would refuse before the policy runs is shown
with the refusal as its decision.

The caller: --keystone URL validates the token (--token T, or the request's
own X-Auth-Token) as the keystone option does; --identity FILE takes the
identity object of the policy input (docs/policy-input.md) instead, offline.
With neither, the identity is null.

Exit status: 0 allowed, 1 denied or refused, 2 a usage, input or policy
error (including a policy evaluation error, and an unreachable Keystone).
With --format json, one JSON object {input, decision, rules, rejected} is
printed. See docs/explain.md.`,
		CobraFunc: func(cmd *cobra.Command) {
			f := cmd.Flags()
			var o explainOptions
			f.StringArrayVar(&o.policies, "policy", nil, "a .rego file or directory (repeatable; default: the shipped policy)")
			f.StringArrayVar(&o.data, "data", nil, "a JSON or YAML data document (repeatable)")
			f.StringVar(&o.decision, "decision", "", "the rule to evaluate (default data.ecsgate.authz.decision)")
			f.StringVar(&o.keystone, "keystone", "", "Keystone / IAM v3 URL to validate the token against")
			f.StringVar(&o.token, "token", "", "the caller's token, sent as X-Auth-Token (needs --keystone)")
			f.StringVar(&o.identityFile, "identity", "", "a JSON file with the caller's identity, as input.identity")
			f.StringVar(&o.maxMicroversion, "max-microversion", "", "what microversion latest resolves to (default 2.93)")
			f.StringVar(&o.requestFile, "request", "", "a raw HTTP/1.1 request, - for standard input")
			f.StringArrayVarP(&o.headers, "header", "H", nil, "a request header 'Name: value' (repeatable)")
			f.StringVar(&o.remoteIP, "remote-ip", "", "input.request.remote_ip (default empty)")
			f.StringVar(&o.format, "format", "text", "text or json")
			f.StringVar(&o.explain, "explain", "", "also print OPA's trace: full, notes or fails")
			cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
				fmt.Fprintf(os.Stderr, "ecsgate explain: %v\n%s", err, c.UsageString())
				os.Exit(exitError)
				return err
			})
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				o.args = args
				code := runExplain(context.Background(), o, os.Stdin, os.Stdout, os.Stderr)
				// Exit here: caddycmd turns a returned error into status 1
				// and logs it, and a deny is no error.
				if code != exitAllow {
					os.Exit(code)
				}
				return nil
			}
		},
	})
}

// explainOptions are the command line of `ecsgate explain`.
type explainOptions struct {
	policies, data  []string
	decision        string
	keystone, token string
	identityFile    string
	maxMicroversion string
	requestFile     string
	headers         []string
	remoteIP        string
	format, explain string
	args            []string
}

// usageError is a command line that cannot be run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// runExplain runs the command and returns its exit status. Everything it
// prints on stdout is the result; diagnostics go to stderr.
func runExplain(ctx context.Context, o explainOptions, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "ecsgate explain: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, "usage: ecsgate explain [flags] METHOD PATH [BODY] | ecsgate explain [flags] --request FILE (see ecsgate help explain)")
		}
		return exitError
	}
	if err := o.check(); err != nil {
		return fail(err)
	}
	var caller *policy.Identity
	if o.identityFile != "" {
		var err error
		if caller, err = readIdentity(o.identityFile); err != nil {
			return fail(err)
		}
	}
	req, rest, err := o.request(stdin)
	if err != nil {
		return fail(err)
	}
	var keystone *identity.Keystone
	if o.keystone != "" {
		if keystone, err = identity.NewKeystone(identity.KeystoneOptions{BaseURL: o.keystone}); err != nil {
			return fail(fmt.Errorf("--keystone: %w", err))
		}
	}
	engine, err := policy.New(ctx, policy.Options{Policies: o.policies, Data: o.data, Decision: o.decision})
	if err != nil {
		return fail(err)
	}

	in, refusal, err := proxy.BuildInput(ctx, req, proxy.InputOptions{
		DecisionID:      explainDecisionID,
		RemoteIP:        o.remoteIP,
		MaxMicroversion: o.maxMicroversion,
		Keystone:        keystone,
		ReplaceIdentity: o.identityFile != "",
		Identity:        caller,
		Logger:          stderrLogger(stderr),
	})
	if err != nil {
		return fail(err)
	}
	if err := rest.check(); err != nil {
		return fail(err)
	}

	res := explainResult{rules: []policy.FiredRule{}}
	res.input, res.masked, err = recordedInput(in)
	if err != nil {
		return fail(err)
	}
	code := exitDeny
	var evalErr error
	if refusal != nil {
		res.decision, res.rejected = refusal.Decision, refusal.Reason
		if refusal.Decision.Status >= 500 {
			// The gateway could not decide either (Keystone unreachable):
			// no answer about the policy, so not a deny.
			evalErr = errors.New("the gateway would answer " + strconv.Itoa(refusal.Decision.Status) + " without asking the policy")
		}
	} else {
		ex, err := engine.Explain(ctx, in)
		res.decision, res.rules, evalErr = ex.Decision, ex.Rules, err
		if o.explain != "" {
			res.trace = prettyTrace(o.explain, ex.Trace)
		}
		if ex.Decision.Allow && err == nil {
			code = exitAllow
		}
	}
	if evalErr != nil {
		res.err = evalErr.Error()
		code = exitError
	}
	var out []byte
	if o.format == "json" {
		out, err = res.json()
		if err != nil {
			return fail(err)
		}
	} else {
		out = res.text(o.explain)
	}
	if _, err := stdout.Write(out); err != nil {
		return fail(err)
	}
	if evalErr != nil {
		fmt.Fprintf(stderr, "ecsgate explain: %v\n", evalErr)
	}
	return code
}

func (o *explainOptions) check() error {
	switch o.format {
	case "text", "json":
	default:
		return usagef("--format %q: must be text or json", o.format)
	}
	switch o.explain {
	case "", "full", "notes", "fails":
	default:
		return usagef("--explain %q: must be full, notes or fails", o.explain)
	}
	if o.identityFile != "" && o.keystone != "" {
		return usagef("--identity and --keystone exclude each other: the identity comes from one or the other")
	}
	if o.token != "" && o.keystone == "" {
		return usagef("--token needs --keystone to validate it")
	}
	if o.requestFile != "" {
		if len(o.args) > 0 {
			return usagef("--request takes the whole request: no METHOD PATH BODY as well")
		}
		if len(o.headers) > 0 {
			return usagef("--request takes the whole request: put the headers in it instead of --header")
		}
		return nil
	}
	if len(o.args) < 2 || len(o.args) > 3 {
		return usagef("want METHOD PATH [BODY] or --request FILE, got %d arguments", len(o.args))
	}
	return nil
}

// leftover is what a request file holds past the request, checked once the
// body has been read.
type leftover struct {
	body  io.Reader
	src   *bufio.Reader
	label string
}

// check fails when bytes other than line ends follow the request: a body
// without Content-Length, most likely, which the gateway would take for the
// next request on the connection rather than this one's body.
func (l leftover) check() error {
	if l.src == nil {
		return nil
	}
	_, _ = io.Copy(io.Discard, l.body)
	rest, _ := io.ReadAll(l.src)
	if len(bytes.Trim(rest, "\r\n")) > 0 {
		return fmt.Errorf("%s: %d bytes follow the request; a body needs a Content-Length header (or chunked Transfer-Encoding)", l.label, len(rest))
	}
	return nil
}

// request builds the request as the gateway would receive it: both forms
// are parsed by net/http's own request reader, as a request on the wire is.
func (o *explainOptions) request(stdin io.Reader) (*http.Request, leftover, error) {
	var raw []byte
	label := "--request " + o.requestFile
	if o.requestFile != "" {
		var err error
		if raw, err = readFileOrStdin(o.requestFile, stdin); err != nil {
			return nil, leftover{}, fmt.Errorf("--request: %w", err)
		}
	} else {
		var err error
		if raw, err = o.synthesize(stdin); err != nil {
			return nil, leftover{}, err
		}
		label = "the request"
	}
	src := bufio.NewReader(bytes.NewReader(raw))
	req, err := http.ReadRequest(src)
	if err != nil {
		return nil, leftover{}, fmt.Errorf("%s: not an HTTP/1.1 request: %w", label, err)
	}
	if o.token != "" {
		for _, name := range []string{"X-Auth-Token", "X-Storage-Token", "Authorization"} {
			if _, ok := req.Header[name]; ok {
				return nil, leftover{}, usagef("--token: the request carries its own %s", name)
			}
		}
		req.Header.Set("X-Auth-Token", o.token)
	}
	return req, leftover{body: req.Body, src: src, label: label}, nil
}

// synthesize writes METHOD PATH [BODY] and --header as a raw request.
func (o *explainOptions) synthesize(stdin io.Reader) ([]byte, error) {
	method, target := o.args[0], o.args[1]
	var body []byte
	if len(o.args) == 3 {
		body = []byte(o.args[2])
		if name, ok := strings.CutPrefix(o.args[2], "@"); ok {
			var err error
			if body, err = readFileOrStdin(name, stdin); err != nil {
				return nil, fmt.Errorf("BODY: %w", err)
			}
		}
	}
	if strings.ContainsAny(method+target, " \t\r\n") {
		return nil, usagef("METHOD and PATH may not contain spaces or line breaks (escape them in PATH as %%20)")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	hasHost, hasType := false, false
	for _, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(h, "\r\n") {
			return nil, usagef("--header %q: want 'Name: value' on one line", h)
		}
		switch http.CanonicalHeaderKey(strings.TrimSpace(name)) {
		case "Host":
			hasHost = true
		case "Content-Type":
			hasType = true
		case "Content-Length", "Transfer-Encoding":
			return nil, usagef("--header %q: the body's framing is set from BODY; use --request for a request framed by hand", h)
		}
		fmt.Fprintf(&b, "%s:%s\r\n", name, value)
	}
	if !hasHost {
		b.WriteString("Host: localhost\r\n")
	}
	if len(body) > 0 {
		if !hasType {
			b.WriteString("Content-Type: application/json\r\n")
		}
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes(), nil
}

func readFileOrStdin(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

// readIdentity reads an input.identity object; unknown fields are refused
// so that a misspelt "roles" does not silently give a caller none.
func readIdentity(path string) (*policy.Identity, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--identity: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var id *policy.Identity
	if err := dec.Decode(&id); err != nil {
		return nil, fmt.Errorf("--identity %s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("--identity %s: more than one JSON value", path)
	}
	return id, nil
}

// stderrLogger shows what the gateway would log while building the input
// (an unreachable Keystone), without timestamps.
func stderrLogger(w io.Writer) *zap.Logger {
	cfg := zap.NewDevelopmentEncoderConfig()
	cfg.TimeKey = ""
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(cfg), zapcore.AddSync(w), zap.WarnLevel))
}
