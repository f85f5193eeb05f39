package trust

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxDocument bounds a fetched trusted root or signing config.
const maxDocument = 4 << 20

// Fetch downloads the trusted root and signing config a hallmark server
// publishes at baseURL. The trusted root fetched this way is only as
// trustworthy as the connection: pin it (hallmark trust export, or a copy
// kept from a first fetch) for verification that matters.
func Fetch(ctx context.Context, c *http.Client, baseURL string) (trustedRoot, signingConfig []byte, err error) {
	baseURL = strings.TrimRight(baseURL, "/")
	trustedRoot, err = get(ctx, c, baseURL+TrustedRootPath)
	if err != nil {
		return nil, nil, err
	}
	signingConfig, err = get(ctx, c, baseURL+SigningConfigPath)
	if err != nil {
		return nil, nil, err
	}
	return trustedRoot, signingConfig, nil
}

func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: HTTP %d", url, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	if len(b) > maxDocument {
		return nil, fmt.Errorf("fetch %s: over %d bytes", url, maxDocument)
	}
	return b, nil
}
