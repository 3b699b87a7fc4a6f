// Package otlptest is a minimal OTLP/HTTP (protobuf) trace receiver for
// tests: real exporters send real OTLP to it, and tests read back the spans.
package otlptest

import (
	"compress/gzip"
	"io"
	"net/http"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Receiver accepts POST /v1/traces in OTLP/HTTP protobuf, gzip or not.
type Receiver struct {
	mu       sync.Mutex
	requests []*coltracepb.ExportTraceServiceRequest
}

// ServeHTTP decodes one export request.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"), http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(data, req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.requests = append(rc.requests, req)
	rc.mu.Unlock()
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// Span is one received span with the attributes of its resource.
type Span struct {
	Span     *tracepb.Span
	Resource []*commonpb.KeyValue
}

// Spans returns the received spans by name (the last one of each name).
func (rc *Receiver) Spans() map[string]Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]Span{}
	for _, req := range rc.requests {
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					out[s.GetName()] = Span{s, rs.GetResource().GetAttributes()}
				}
			}
		}
	}
	return out
}

// Attributes indexes key-values by key.
func Attributes(list []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range list {
		m[kv.GetKey()] = kv.GetValue()
	}
	return m
}

// Count returns how many spans named name were received.
func (rc *Receiver) Count(name string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, req := range rc.requests {
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					if s.GetName() == name {
						n++
					}
				}
			}
		}
	}
	return n
}
