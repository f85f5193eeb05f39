package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"

	ct "github.com/google/certificate-transparency-go"

	"hallmark.dev/internal/ca"
	"hallmark.dev/internal/ctlog"
)

// CTLogPath is where the certificate transparency log is served: its
// submission and monitoring prefix under the public URL.
const CTLogPath = "/ctlog"

// buildCTLog opens the certificate transparency log in DataDir/ctlog,
// accepting chains to the CA's root, and serves it under CTLogPath.
func (s *Server) buildCTLog(ctx context.Context, mux *http.ServeMux, caChain []*x509.Certificate) error {
	origin, err := ctlog.OriginFromURL(s.cfg.PublicURL + CTLogPath)
	if err != nil {
		return fmt.Errorf("server: ct log: %w", err)
	}
	s.ctlog, err = ctlog.New(ctx, ctlog.Config{
		Dir:    s.dir("ctlog"),
		Origin: origin,
		Roots:  caChain[len(caChain)-1:],
		Logger: s.cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("server: ct log: %w", err)
	}
	mux.Handle(CTLogPath+"/", http.StripPrefix(CTLogPath, s.ctlog.Handler()))
	return nil
}

// lateCTLog hands the CA the CT log that is opened after it: the log
// accepts the CA's root, which the CA creates on first start. No request
// reaches the CA before both exist.
type lateCTLog struct{ l **ctlog.Log }

var _ ca.CTLog = lateCTLog{}

func (f lateCTLog) AddPreChain(ctx context.Context, chain []*x509.Certificate) (*ct.SignedCertificateTimestamp, error) {
	return (*f.l).AddPreChain(ctx, chain)
}
