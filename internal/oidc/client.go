package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// RequestToken asks the token endpoint of the development issuer at
// issuerURL (for a hallmark server, <server>/oidc) for a token: what
// `hallmark dev-token` does. c nil means http.DefaultClient.
func RequestToken(ctx context.Context, c *http.Client, issuerURL string, req TokenRequest) (string, error) {
	if c == nil {
		c = http.DefaultClient
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("oidc: encoding token request: %w", err)
	}
	endpoint := strings.TrimRight(issuerURL, "/") + "/token"
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("oidc: token request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(hr)
	if err != nil {
		return "", fmt.Errorf("oidc: token request: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("oidc: %s: reading token response: %w", endpoint, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", fmt.Errorf("oidc: %s: not found (is the server running with --dev-oidc?)", endpoint)
	case resp.StatusCode != http.StatusOK:
		var e errorBody
		if json.Unmarshal(data, &e) == nil && e.ErrorDescription != "" {
			return "", fmt.Errorf("oidc: %s: HTTP %d: %s", endpoint, resp.StatusCode, e.ErrorDescription)
		}
		return "", fmt.Errorf("oidc: %s: HTTP %d", endpoint, resp.StatusCode)
	}
	var tr TokenResponse
	if err := json.Unmarshal(data, &tr); err != nil {
		return "", fmt.Errorf("oidc: %s: malformed token response: %w", endpoint, err)
	}
	if tr.IDToken == "" {
		return "", errors.New("oidc: token response has no id_token")
	}
	return tr.IDToken, nil
}
