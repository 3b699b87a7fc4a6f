package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"

	"github.com/ecsgate/ecsgate/policy"
	"github.com/ecsgate/ecsgate/tracing"
)

// explainResult is what `ecsgate explain` prints, in either format.
type explainResult struct {
	input    json.RawMessage
	masked   []string
	decision policy.Decision
	rejected string
	rules    []policy.FiredRule
	trace    string
	err      string
}

// recordedInput renders the input as a decision record does: the input's
// own JSON, with credential headers redacted (already so in the input) and
// secret action arguments masked (adminPass, user_data, ...). The record's
// encoder is the one definition of that masking; masked lists the JSON
// pointers it replaced, where the policy saw the real value.
func recordedInput(in *policy.Input) (json.RawMessage, []string, error) {
	b, err := (&tracing.Record{Input: in}).MarshalJSON()
	if err != nil {
		return nil, nil, err
	}
	var rec struct {
		Input  json.RawMessage `json:"input"`
		Masked []string        `json:"masked"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, nil, err
	}
	return rec.Input, rec.Masked, nil
}

// prettyTrace is OPA's `--explain` output, as `opa eval --explain` prints
// it, with locations.
func prettyTrace(mode string, trace []*topdown.Event) string {
	switch mode {
	case "notes":
		trace = lineage.Notes(trace)
	case "fails":
		trace = lineage.Fails(trace)
	default:
		trace = lineage.Full(trace)
	}
	var b bytes.Buffer
	topdown.PrettyTraceWithLocation(&b, trace)
	return b.String()
}

func (r *explainResult) json() ([]byte, error) {
	out := struct {
		Input    json.RawMessage    `json:"input"`
		Masked   []string           `json:"masked,omitempty"`
		Decision policy.Decision    `json:"decision"`
		Rejected string             `json:"rejected,omitempty"`
		Rules    []policy.FiredRule `json:"rules"`
		Trace    []string           `json:"trace,omitempty"`
		Error    string             `json:"error,omitempty"`
	}{r.input, r.masked, r.decision, r.rejected, r.rules, nil, r.err}
	if r.trace != "" {
		out.Trace = strings.Split(strings.TrimSuffix(r.trace, "\n"), "\n")
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func (r *explainResult) text(explain string) []byte {
	var b bytes.Buffer
	b.WriteString("input (as the policy sees it):\n")
	var indented bytes.Buffer
	if err := json.Indent(&indented, r.input, "", "  "); err != nil {
		indented.Write(r.input)
	}
	b.Write(indented.Bytes())
	b.WriteString("\n")
	if len(r.masked) > 0 {
		fmt.Fprintf(&b, "masked here as in decision records (the policy sees the values): %s\n", strings.Join(r.masked, ", "))
	}

	b.WriteString("\ndecision: ")
	d := r.decision
	switch {
	case r.rejected != "":
		fmt.Fprintf(&b, "refused before the policy ran (%s), status %d\n", r.rejected, d.Status)
	case d.Allow:
		b.WriteString("allow\n")
	default:
		fmt.Fprintf(&b, "deny, status %d\n", d.Status)
	}
	for _, reason := range d.Reasons {
		fmt.Fprintf(&b, "  reason: %s\n", reason)
	}
	names := make([]string, 0, len(d.Headers))
	for name := range d.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&b, "  header: %s: %s\n", name, d.Headers[name])
	}
	if r.err != "" {
		fmt.Fprintf(&b, "  error: %s\n", r.err)
	}

	switch {
	case r.rejected != "":
		b.WriteString("\nrules that fired: none, the policy did not run\n")
	case len(r.rules) == 0:
		b.WriteString("\nrules that fired: none (an undefined decision denies)\n")
	default:
		b.WriteString("\nrules that fired (file:line head):\n")
		for _, rule := range r.rules {
			fmt.Fprintf(&b, "  %s\n", rule)
		}
	}
	if r.trace != "" {
		fmt.Fprintf(&b, "\ntrace (--explain %s):\n%s", explain, r.trace)
	}
	return b.Bytes()
}
