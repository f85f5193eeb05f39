package policystore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"hallmark.dev/signpolicy"
)

// Client talks to a hallmark server's signing policy store.
type Client struct {
	// BaseURL is the server's URL.
	BaseURL string
	// HTTP is the client to use; nil means one with a 30 s timeout.
	HTTP *http.Client
}

// RefusedError is the server's refusal of a request.
type RefusedError struct {
	Status int
	// Reason is a signpolicy.Reason for a refused version, else empty.
	Reason  signpolicy.Reason
	Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the server refused (HTTP %d): %s", e.Status, e.Message)
}

// maxResponse bounds a response: a chain of versions with their
// approvals.
const maxResponse = 64 << 20

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte, out any) error {
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("signing policy store: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("signing policy store: %s %s: %w", method, path, err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("signing policy store: %s %s: the answer is over %d bytes", method, path, maxResponse)
	}
	if resp.StatusCode/100 != 2 {
		var p problem
		if json.Unmarshal(data, &p) != nil || p.Error == "" {
			p.Error = strings.TrimSpace(string(data))
			if resp.StatusCode == http.StatusNotFound {
				p.Error = "not found: is " + c.BaseURL + " a hallmark server with the signing policy store?"
			}
		}
		return &RefusedError{Status: resp.StatusCode, Reason: signpolicy.Reason(p.Reason), Message: p.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("signing policy store: %s %s: %w", method, path, err)
	}
	return nil
}

// Versions returns a repository's chain as the server serves it, from
// version 1, unverified (signpolicy.VerifyChain verifies it).
func (c *Client) Versions(ctx context.Context, repo string) ([]signpolicy.Entry, error) {
	var out versionsResponse
	if err := c.do(ctx, http.MethodGet, PathVersions, url.Values{"repository": {repo}}, nil, &out); err != nil {
		return nil, err
	}
	if out.Repository != repo {
		return nil, fmt.Errorf("signing policy store: asked for %s, the server answered for %s", repo, out.Repository)
	}
	return out.Versions, nil
}

// Publish sends a version. A refusal is a *RefusedError whose Reason
// names it.
func (c *Client) Publish(ctx context.Context, e signpolicy.Entry) (version int, digest string, err error) {
	body, err := json.Marshal(e)
	if err != nil {
		return 0, "", err
	}
	var out published
	if err := c.do(ctx, http.MethodPost, PathVersions, nil, body, &out); err != nil {
		return 0, "", err
	}
	return out.Version, out.Digest, nil
}

// AddApproval stores an approval bundle.
func (c *Client) AddApproval(ctx context.Context, bundle []byte) error {
	return c.do(ctx, http.MethodPost, PathApprovals, nil, bundle, nil)
}

// Approvals returns the stored approvals of a's subject (its commit, or
// its policy digest), unverified.
func (c *Client) Approvals(ctx context.Context, a signpolicy.Approval) ([][]byte, error) {
	q := url.Values{"repository": {a.Repository}}
	switch {
	case a.Kind == signpolicy.KindRelease:
		q.Set("commit", a.Commit)
	case a.Policy != nil:
		q.Set("policy", a.Policy.Digest)
	default:
		return nil, errors.New("signing policy store: an approval subject needs a commit or a policy")
	}
	var out approvalsResponse
	if err := c.do(ctx, http.MethodGet, PathApprovals, q, nil, &out); err != nil {
		return nil, err
	}
	bundles := make([][]byte, len(out.Approvals))
	for i, b := range out.Approvals {
		bundles[i] = b
	}
	return bundles, nil
}
