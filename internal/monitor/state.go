package monitor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/tlog"
)

// maxResource bounds a data tile or entry bundle read over HTTP.
const maxResource = 64 << 20

// loadState returns the last checkpoint saved in path, which must still
// verify with the log's key: a state file that does not is refused rather
// than taken as a new start.
func loadState(path string, v note.Verifier) (tlog.Checkpoint, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tlog.Checkpoint{}, false, nil
	}
	if err != nil {
		return tlog.Checkpoint{}, false, fmt.Errorf("monitor state: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	last := ""
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			last = line
		}
	}
	if err := sc.Err(); err != nil {
		return tlog.Checkpoint{}, false, fmt.Errorf("monitor state %s: %w", path, err)
	}
	if last == "" {
		return tlog.Checkpoint{}, false, nil
	}
	cp, err := tlog.VerifyCheckpoint([]byte(strings.ReplaceAll(last, `\n`, "\n")+"\n"), v)
	if err != nil {
		return tlog.Checkpoint{}, false, fmt.Errorf("monitor state %s: the saved checkpoint does not verify with the log's key (%v); move the file away to start over", path, err)
	}
	return cp, true, nil
}

// saveState appends a signed checkpoint to path as one line, its newlines
// written as "\n", as rekor-monitor's logInfoFile holds them.
func saveState(path string, signed []byte) error {
	line := strings.ReplaceAll(strings.TrimRight(string(signed), "\n"), "\n", `\n`) + "\n"
	return appendFile(path, []byte(line))
}

func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func httpFetcher(base string, c *http.Client) (*client.HTTPFetcher, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("monitor: log url: %w", err)
	}
	return client.NewHTTPFetcher(u, c)
}

func get(ctx context.Context, c *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(resp.Body, maxResource+1)); err != nil {
		return nil, err
	}
	if b.Len() > maxResource {
		return nil, fmt.Errorf("GET %s: over %d bytes", u, maxResource)
	}
	return b.Bytes(), nil
}
