package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/download"
	"github.com/open-policy-agent/opa/v1/keys"
	"github.com/open-policy-agent/opa/v1/plugins/rest"
)

// BundleOptions configures an OPA bundle source: the tar.gz bundle format,
// polling and signature verification are OPA's own (its download package, as
// used by OPA's bundle plugin).
type BundleOptions struct {
	// URL of the bundle, e.g. https://bundles.example.com/ecsgate/bundle.tar.gz.
	URL string
	// MinDelay and MaxDelay bound the wait between polls (OPA's defaults,
	// 60 s and 120 s, when zero).
	MinDelay, MaxDelay time.Duration
	// PublicKey is a PEM file; when set, only bundles signed with the
	// matching private key are activated.
	PublicKey string
	// KeyID names the key in the bundle's signature (default "ecsgate").
	KeyID string
	// Algorithm of the signature (default RS256).
	Algorithm string
}

// DefaultBundleKeyID is the key id signed bundles are expected to name.
const DefaultBundleKeyID = "ecsgate"

func (b *BundleOptions) validate() error {
	u, err := url.Parse(b.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("bundle %q: must be an http(s) URL", b.URL)
	}
	if b.MinDelay < 0 || b.MaxDelay < 0 || (b.MaxDelay > 0 && b.MinDelay > b.MaxDelay) {
		return fmt.Errorf("bundle polling %s %s: need 0 <= min <= max", b.MinDelay, b.MaxDelay)
	}
	if b.PublicKey != "" {
		if _, err := os.ReadFile(b.PublicKey); err != nil {
			return fmt.Errorf("bundle public_key: %w", err)
		}
	}
	return nil
}

// Start begins what keeps the policy current, in the background: bundle
// downloads, or, with Options.Watch, polling the policy and data files. It
// returns at once; everything stops when ctx ends.
func (e *Engine) Start(ctx context.Context, watch time.Duration) error {
	switch {
	case e.opts.Bundle != nil:
		return e.startBundle(ctx)
	case watch > 0 && len(e.opts.Policies)+len(e.opts.Data) > 0:
		go e.watch(ctx, watch)
	}
	return nil
}

func (e *Engine) startBundle(ctx context.Context) error {
	b := e.opts.Bundle
	u, err := url.Parse(b.URL)
	if err != nil {
		return err
	}
	base := &url.URL{Scheme: u.Scheme, Host: u.Host}
	restCfg, _ := json.Marshal(map[string]any{"name": "ecsgate-bundle", "url": base.String()})
	client, err := rest.New(restCfg, nil)
	if err != nil {
		return fmt.Errorf("bundle %s: %w", b.URL, err)
	}
	var cfg download.Config
	if b.MinDelay > 0 || b.MaxDelay > 0 {
		minS, maxS := int64(b.MinDelay/time.Second), int64(b.MaxDelay/time.Second)
		if minS < 1 {
			minS = 1
		}
		if maxS < minS {
			maxS = minS
		}
		cfg.Polling = download.PollingConfig{MinDelaySeconds: &minS, MaxDelaySeconds: &maxS}
	}
	if err := cfg.ValidateAndInjectDefaults(); err != nil {
		return fmt.Errorf("bundle polling: %w", err)
	}
	d := download.New(cfg, client, u.RequestURI()).
		WithBundleName("ecsgate").
		WithCallback(e.bundleUpdate)
	if b.PublicKey != "" {
		pem, err := os.ReadFile(b.PublicKey)
		if err != nil {
			return fmt.Errorf("bundle public_key: %w", err)
		}
		id, alg := b.KeyID, b.Algorithm
		if id == "" {
			id = DefaultBundleKeyID
		}
		if alg == "" {
			alg = "RS256"
		}
		d = d.WithBundleVerificationConfig(bundle.NewVerificationConfig(
			map[string]*keys.Config{id: {Key: string(pem), Algorithm: alg}}, id, "", nil))
	}
	d.Start(ctx)
	go func() {
		<-ctx.Done()
		stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Stop(stop)
	}()
	return nil
}

// bundleUpdate activates a downloaded bundle; a failed download or a bundle
// that does not verify or compile leaves the last good revision serving.
func (e *Engine) bundleUpdate(ctx context.Context, u download.Update) error {
	if u.Error != nil {
		e.reportError(fmt.Errorf("bundle %s: %w", e.opts.Bundle.URL, u.Error))
		return nil
	}
	if u.Bundle == nil {
		return nil // 304 Not Modified
	}
	src := &source{
		modules:  map[string]*ast.Module{},
		raw:      map[string][]byte{},
		data:     u.Bundle.Data,
		revision: u.Bundle.Manifest.Revision,
	}
	if src.data == nil {
		src.data = map[string]any{}
	}
	for _, m := range u.Bundle.Modules {
		src.modules[m.Path] = m.Parsed
		src.raw[m.Path] = m.Raw
	}
	if len(src.modules) == 0 {
		e.reportError(fmt.Errorf("bundle %s: %w", e.opts.Bundle.URL, errors.New("the bundle holds no policy")))
		return nil
	}
	if src.revision == "" {
		src.revision = revision(slices.Sorted(maps.Keys(src.raw)), src.raw, src.data)
	}
	if err := e.activate(ctx, src); err != nil {
		e.reportError(fmt.Errorf("bundle %s: %w", e.opts.Bundle.URL, err))
	}
	return nil
}

func (e *Engine) reportError(err error) {
	if e.opts.OnError != nil {
		e.opts.OnError(err)
	}
}
