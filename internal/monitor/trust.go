package monitor

import (
	"fmt"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/ctlog"
	"hallmark.dev/internal/logserver"
	"hallmark.dev/tlog"
)

// LogsFromTrustedRoot returns the logs a trusted root lists under server,
// with their keys: the transparency log whose base URL is server, kept in
// stateFile, and each CT log under it, kept in stateFile + ".ctlog" (with
// a number after the first). Transparency log origins are the URL's host
// and CT log origins the URL without its scheme and port, as hallmark's
// logs name themselves.
func LogsFromTrustedRoot(tr root.TrustedMaterial, server, stateFile string) ([]Log, error) {
	server = strings.TrimRight(server, "/")
	var logs []Log
	for _, l := range tr.RekorLogs() {
		if strings.TrimRight(l.BaseURL, "/") != server {
			continue
		}
		origin, err := logserver.OriginFromURL(l.BaseURL)
		if err != nil {
			return nil, err
		}
		v, err := tlog.NewNoteVerifier(origin, l.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("transparency log %s: %w", l.BaseURL, err)
		}
		logs = append(logs, Log{Kind: KindTransparency, URL: l.BaseURL, Verifier: v, StateFile: stateFile})
	}
	if len(logs) == 0 {
		return nil, fmt.Errorf("the trusted root lists no transparency log at %s", server)
	}
	n := 0
	for _, l := range tr.CTLogs() {
		if !strings.HasPrefix(l.BaseURL, server+"/") {
			continue
		}
		origin, err := ctlog.OriginFromURL(l.BaseURL)
		if err != nil {
			return nil, err
		}
		v, _, err := ctlog.NewNoteVerifier(origin, l.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("ct log %s: %w", l.BaseURL, err)
		}
		state := stateFile + ".ctlog"
		if n > 0 {
			state += fmt.Sprint(n + 1)
		}
		n++
		logs = append(logs, Log{Kind: KindCT, URL: l.BaseURL, Verifier: v, StateFile: state})
	}
	return logs, nil
}
