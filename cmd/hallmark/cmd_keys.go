package main

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/pkcs11key"
	"hallmark.dev/keys"
)

func generateKeyPairCmd(e *env) *cobra.Command {
	var prefix, alg, token string
	cmd := &cobra.Command{
		Use:   "generate-key-pair [--pkcs11 URI]",
		Short: "Generate a key pair in cosign's format (PREFIX.key, PREFIX.pub), or in a PKCS#11 token (PREFIX.pub)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token != "" {
				return e.generateInToken(token, keys.Algorithm(alg), prefix)
			}
			s, err := keys.Generate(keys.Algorithm(alg))
			if err != nil {
				return err
			}
			return e.writeKeyPair(prefix, s)
		},
	}
	cmd.Flags().StringVar(&token, "pkcs11", "", "generate the key in a PKCS#11 token, labelled by the URI's object= (and id=, else random): pkcs11:token=T;object=O?module-path=M")
	cmd.Flags().StringVar(&prefix, "output-key-prefix", "cosign", "write PREFIX.key and PREFIX.pub")
	cmd.Flags().StringVar(&alg, "algorithm", string(keys.ECDSAP256), "key type: ecdsa-p256, ecdsa-p384, ecdsa-p521, ed25519, rsa-3072, rsa-4096")
	return cmd
}

func importKeyPairCmd(e *env) *cobra.Command {
	var prefix, keyPath string
	cmd := &cobra.Command{
		Use:   "import-key-pair --key FILE",
		Short: "Import a PEM private key (EC, RSA, Ed25519; PKCS#1, SEC1 or PKCS#8) into cosign's format",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyPath == "" {
				return withHint(errors.New("no key to import"), "pass --key FILE")
			}
			data, err := os.ReadFile(keyPath)
			if err != nil {
				return fmt.Errorf("read key: %w", err)
			}
			s, err := keys.ParsePrivateKey(data)
			if err != nil {
				return fmt.Errorf("import %s: %w", keyPath, err)
			}
			return e.writeKeyPair(prefix, s)
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "PEM private key to import")
	cmd.Flags().StringVar(&prefix, "output-key-prefix", "import-cosign", "write PREFIX.key and PREFIX.pub")
	return cmd
}

// generateInToken creates a key pair in a token: the private key is
// sensitive and cannot be extracted. The public key goes to PREFIX.pub.
func (e *env) generateInToken(uri string, alg keys.Algorithm, prefix string) error {
	u, err := pkcs11key.ParseURI(uri)
	if err != nil {
		return fmt.Errorf("--pkcs11: %w", err)
	}
	pubPath := prefix + ".pub"
	if _, err := os.Stat(pubPath); err == nil {
		return withHint(fmt.Errorf("%s already exists", pubPath), "remove it or choose another --output-key-prefix")
	}
	s, err := pkcs11key.Generate(u, e.pkcs11Options(), alg)
	if err != nil {
		return keyError(err)
	}
	e.onExit(s.Close)
	pub, err := keys.MarshalPublicKey(s.Public())
	if err != nil {
		return err
	}
	if err := writeNew(pubPath, pub, 0o644); err != nil {
		return err
	}
	e.info("generated a %s key in token %q; the private key cannot leave it", keys.Describe(s.Public()), s.URI().Token)
	e.info("public key written to %s (%s)", pubPath, keys.Fingerprint(s.Public()))
	key := *s.URI()
	key.PINValue = "" // the URI to sign with; the PIN comes from where it came from
	e.printf("%s\n", key.String())
	return nil
}

func (e *env) writeKeyPair(prefix string, s crypto.Signer) error {
	keyPath, pubPath := prefix+".key", prefix+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Stat(p); err == nil {
			return withHint(fmt.Errorf("%s already exists", p), "remove it or choose another --output-key-prefix")
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	pw, err := e.password("Enter password for private key", true)
	if err != nil {
		return err
	}
	priv, err := keys.EncryptPrivateKey(s, pw)
	if err != nil {
		return err
	}
	pub, err := keys.MarshalPublicKey(s.Public())
	if err != nil {
		return err
	}
	if err := writeNew(keyPath, priv, 0o600); err != nil {
		return err
	}
	if err := writeNew(pubPath, pub, 0o644); err != nil {
		return err
	}
	e.info("private key written to %s", keyPath)
	e.info("public key written to %s (%s, %s)", pubPath, keys.Describe(s.Public()), keys.Fingerprint(s.Public()))
	return nil
}

// writeNew creates a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
