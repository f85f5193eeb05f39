package gitfacts_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"hallmark.dev/internal/gitfacts"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/keys"
	"hallmark.dev/signpolicy"
)

// repo is a git repository made for a test, with a hermetic environment.
type repo struct {
	t    *testing.T
	dir  string // the work tree; the git dir is dir/.git
	home string
	env  []string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	testkit.RequireTools(t, "git", "ssh-keygen")
	home := t.TempDir()
	r := &repo{t: t, dir: filepath.Join(home, "src"), home: home}
	r.env = append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+filepath.Join(home, ".gitconfig"),
		"GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com", "GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com",
		"GNUPGHOME="+filepath.Join(home, "gnupg"))
	if err := os.MkdirAll(filepath.Join(home, "gnupg"), 0o700); err != nil {
		t.Fatal(err)
	}
	r.run("git", "init", "-q", "-b", "main", r.dir)
	return r
}

func (r *repo) gitDir() string { return filepath.Join(r.dir, ".git") }

// run runs a command in the work tree and returns its output.
func (r *repo) run(name string, args ...string) string {
	r.t.Helper()
	return r.runEnv(nil, name, args...)
}

func (r *repo) runEnv(extra []string, name string, args ...string) string {
	r.t.Helper()
	return r.runIn(extra, nil, name, args...)
}

func (r *repo) runIn(extra []string, stdin []byte, name string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = r.home
	if _, err := os.Stat(r.dir); err == nil {
		cmd.Dir = r.dir
	}
	cmd.Env = append(r.env, extra...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit makes a commit and returns its id.
func (r *repo) commit(msg string) string {
	r.t.Helper()
	r.run("git", "commit", "-q", "--allow-empty", "-m", msg)
	return r.run("git", "rev-parse", "HEAD")
}

// sshKey makes an SSH key file and returns its path and authorized_keys line.
func (r *repo) sshKey(name string) (string, string) {
	r.t.Helper()
	path := filepath.Join(r.home, name)
	r.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path)
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		r.t.Fatal(err)
	}
	return path, strings.TrimSpace(string(pub))
}

// gpgKey makes an OpenPGP key and returns its fingerprint and armored
// public key.
func (r *repo) gpgKey(email string) (string, string) {
	r.t.Helper()
	r.run("gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Dev <"+email+">", "ed25519", "sign", "never")
	out := r.run("gpg", "--batch", "--with-colons", "--list-keys", email)
	fpr := ""
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" && fpr == "" {
			fpr = f[9]
		}
	}
	return fpr, r.run("gpg", "--batch", "--armor", "--export", fpr)
}

func policyOf(t *testing.T, principals map[string]string) *signpolicy.Policy {
	t.Helper()
	doc := "principals:\n"
	for name, key := range principals {
		doc += "  " + name + ":\n    keys:\n      - |\n"
		for _, line := range strings.Split(strings.TrimSpace(key), "\n") {
			doc += "        " + line + "\n"
		}
	}
	doc += "rego: |\n  package hallmark.signing\n  allow := input.tag.signer == \"hsm\"\n"
	p, err := signpolicy.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("policy: %v\n%s", err, doc)
	}
	return p
}

func tagFact(t *testing.T, r *repo, name, commit string, p *signpolicy.Policy) (signpolicy.TagFact, signpolicy.Evidence) {
	t.Helper()
	ctx := context.Background()
	g, err := gitfacts.Open(ctx, r.gitDir())
	if err != nil {
		t.Fatal(err)
	}
	tag, err := g.Tag(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return gitfacts.Verify(tag, commit, p)
}

func TestSSHTags(t *testing.T) {
	r := newRepo(t)
	c1 := r.commit("one")
	hsmKey, hsmPub := r.sshKey("hsm")
	otherKey, _ := r.sshKey("other")
	sshTag := func(key, name, target string) {
		r.run("git", "-c", "gpg.format=ssh", "-c", "user.signingkey="+key, "tag", "-s", "-m", "release "+name, name, target)
	}
	sshTag(hsmKey, "v1", c1)
	sshTag(otherKey, "v1-other", c1)
	r.run("git", "tag", "v1-light", c1)
	r.run("git", "tag", "-a", "-m", "unsigned", "v1-unsigned", c1)
	sshTag(hsmKey, "v0.9", c1)
	c2 := r.commit("two")
	// v1 "moved": a new tag object at c2, signed by a key no principal holds.
	sshTag(otherKey, "v1-moved", c2)
	// A signed tag object under another tag's name.
	obj := r.run("git", "rev-parse", "refs/tags/v0.9")
	r.run("git", "update-ref", "refs/tags/v1-renamed", obj)
	// The signed object with another message, the same signature.
	raw := r.run("git", "cat-file", "tag", "v1")
	tampered := strings.Replace(strings.Replace(raw, "release v1", "release v1 (tampered)", 1), "tag v1\n", "tag v1-tampered\n", 1)
	r.run("git", "update-ref", "refs/tags/v1-tampered", r.runIn(nil, []byte(tampered+"\n"), "git", "mktag"))
	// A signature in another namespace (ssh-keygen -Y sign -n file) over the payload.
	payload := raw[:strings.Index(raw, "-----BEGIN SSH SIGNATURE-----")]
	payload = strings.Replace(payload, "tag v1\n", "tag v1-ns\n", 1)
	if err := os.WriteFile(filepath.Join(r.home, "payload"), []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	r.run("ssh-keygen", "-q", "-Y", "sign", "-n", "file", "-f", hsmKey, filepath.Join(r.home, "payload"))
	sig, err := os.ReadFile(filepath.Join(r.home, "payload.sig"))
	if err != nil {
		t.Fatal(err)
	}
	r.run("git", "update-ref", "refs/tags/v1-ns", r.runIn(nil, append([]byte(payload), sig...), "git", "mktag"))

	p := policyOf(t, map[string]string{"hsm": hsmPub})
	tests := []struct {
		tag, commit, signer, detail string
	}{
		{"v1", c1, "hsm", "signed by hsm: SSH signature (sshsig, namespace git, sha512) by key ssh-ed25519 SHA256:"},
		{"v1", c2, "", "the tag points at commit " + c1 + ", not " + c2 + " (the commit being released)"},
		{"v1-other", c1, "", "which no principal holds (unnamed key)"},
		{"v1-moved", c2, "", "which no principal holds (unnamed key)"},
		{"v1-light", c1, "", "lightweight tag: a ref to commit " + c1 + " with no tag object"},
		{"v1-unsigned", c1, "", "annotated tag without a signature"},
		{"v1-renamed", c1, "", "the tag object names itself v0.9, not v1-renamed"},
		{"v1-tampered", c1, "", "SSH signature by hsm's key SHA256:"},
		{"v1-ns", c1, "", `in namespace "file", not git's "git"`},
	}
	for _, tc := range tests {
		t.Run(tc.tag+"@"+tc.commit[:7], func(t *testing.T) {
			fact, ev := tagFact(t, r, tc.tag, tc.commit, p)
			if fact.Signer != tc.signer || fact.Name != tc.tag {
				t.Errorf("got fact %+v, want signer %q", fact, tc.signer)
			}
			if !strings.Contains(ev.Detail, tc.detail) {
				t.Errorf("got evidence %q, want %q", ev.Detail, tc.detail)
			}
			if want := map[bool]string{true: signpolicy.Verified, false: signpolicy.Rejected}[tc.signer != ""]; ev.Result != want {
				t.Errorf("got result %s, want %s", ev.Result, want)
			}
		})
	}
	t.Run("tampered message", func(t *testing.T) {
		_, ev := tagFact(t, r, "v1-tampered", c1, p)
		if !strings.Contains(ev.Detail, "does not verify over the tag object") {
			t.Errorf("got %q, want a signature failure", ev.Detail)
		}
	})
	t.Run("missing tag", func(t *testing.T) {
		g, err := gitfacts.Open(context.Background(), r.gitDir())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Tag(context.Background(), "v9"); !errors.Is(err, gitfacts.ErrNoTag) {
			t.Errorf("got %v, want ErrNoTag", err)
		}
		if _, err := g.Tag(context.Background(), "--upload-pack=x"); err == nil || !strings.Contains(err.Error(), "tag name") {
			t.Errorf("got %v, want a tag name error", err)
		}
	})
}

// TestHSMTag signs a tag with a key held in SoftHSM2, through ssh-agent's
// PKCS#11 support: the private key never leaves the token.
func TestHSMTag(t *testing.T) {
	r := newRepo(t)
	testkit.RequireTools(t, testkit.HSMAgentTools...)
	agent, err := testkit.StartHSMAgent(t.TempDir())
	if err != nil {
		var missing *testkit.MissingToolError
		if errors.As(err, &missing) {
			testkit.SkipOrFail(t, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := agent.Close(); err != nil {
			t.Errorf("stop ssh-agent: %v", err)
		}
	})
	c := r.commit("release")
	r.runEnv([]string{agent.Env()}, "git", "-c", "gpg.format=ssh", "-c", "user.signingkey=key::"+agent.PublicKey, "tag", "-s", "-m", "release v2", "v2")
	if raw := r.run("git", "cat-file", "tag", "v2"); !strings.Contains(raw, "-----BEGIN SSH SIGNATURE-----") {
		t.Fatalf("the tag is not SSH-signed:\n%s", raw)
	}
	// The HSM's key, as an authorized_keys line and as PEM (cosign.pub).
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(agent.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := keys.MarshalPublicKey(pub.(ssh.CryptoPublicKey).CryptoPublicKey())
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]string{"authorized_keys": agent.PublicKey, "PEM": string(pemKey)} {
		t.Run(name, func(t *testing.T) {
			fact, ev := tagFact(t, r, "v2", c, policyOf(t, map[string]string{"hsm": key}))
			if fact.Signer != "hsm" {
				t.Fatalf("got %+v (%s), want signer hsm", fact, ev.Detail)
			}
			if !strings.Contains(ev.Detail, "by key ecdsa-sha2-nistp256 SHA256:") {
				t.Errorf("evidence %q does not name the HSM's ECDSA key", ev.Detail)
			}
		})
	}
}

func TestOpenPGPTags(t *testing.T) {
	r := newRepo(t)
	testkit.RequireTools(t, "gpg")
	c := r.commit("release")
	fpr, armored := r.gpgKey("carol@example.com")
	otherFpr, _ := r.gpgKey("mallory@example.com")
	r.run("git", "-c", "user.signingkey="+fpr, "tag", "-s", "-m", "release v3", "v3")
	r.run("git", "-c", "user.signingkey="+otherFpr, "tag", "-s", "-m", "release v3", "v3-other")
	p := policyOf(t, map[string]string{"carol": armored})
	tests := []struct{ tag, signer, detail string }{
		{"v3", "carol", "signed by carol: OpenPGP signature by key " + fpr},
		{"v3-other", "", "OpenPGP signature by a key no principal holds (unnamed key)"},
	}
	for _, tc := range tests {
		t.Run(tc.tag, func(t *testing.T) {
			fact, ev := tagFact(t, r, tc.tag, c, p)
			if fact.Signer != tc.signer || !strings.Contains(ev.Detail, tc.detail) {
				t.Errorf("got %+v %q, want signer %q and %q", fact, ev.Detail, tc.signer, tc.detail)
			}
		})
	}
}
