package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"hallmark.dev/internal/sample"
	"hallmark.dev/internal/server"
)

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	s, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	host := l.Addr().String()

	resp, err := http.Get("http://" + host + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("healthz: %d %q %v", resp.StatusCode, body, err)
	}

	img, err := sample.Image("x", "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/demo/x:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}

	// The data survives a restart.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	s2, err := server.New(ctx2, server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s2.Serve(ctx2, l2)
	ref2, err := name.ParseReference(l2.Addr().String() + "/demo/x:v1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Head(ref2)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != want {
		t.Errorf("after restart: digest %s, want %s", got.Digest, want)
	}
}

func TestNewNeedsDataDir(t *testing.T) {
	if _, err := server.New(context.Background(), server.Config{}); err == nil {
		t.Error("New without a data directory succeeded")
	}
}
