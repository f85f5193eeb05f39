package server

import (
	"context"
	"fmt"
	"net/http"

	"hallmark.dev/internal/policystore"
	"hallmark.dev/verify"
)

// mountSigningPolicy serves the signing policy store at
// /api/v1/signing-policy/ on DataDir/signing-policy (or the shared
// database of a replica set): the chains of policy
// versions per source repository and the approvals, publicly readable,
// written only by the configured policy writer (Config.SigningPolicy). It
// verifies versions against the server's own trusted root.
func (s *Server) mountSigningPolicy(ctx context.Context, mux *http.ServeMux) error {
	tr, err := verify.ParseTrustedRoot(s.trustedRoot)
	if err != nil {
		return fmt.Errorf("server: signing policy: %w", err)
	}
	var store *policystore.Store
	if s.shared != nil {
		store, err = policystore.NewSQL(ctx, s.cfg.SigningPolicy, s.shared.DB, tr, s.cfg.Logger)
	} else {
		store, err = policystore.New(s.cfg.SigningPolicy, s.dir("signing-policy"), tr, s.cfg.Logger)
	}
	if err != nil {
		return fmt.Errorf("server: signing policy: %w", err)
	}
	mux.Handle(policystore.PathPrefix, store.Handler())
	return nil
}
