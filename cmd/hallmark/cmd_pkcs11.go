package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/pkcs11key"
	"hallmark.dev/internal/setup"
	"hallmark.dev/keys"
)

func pkcs11Cmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pkcs11",
		Short: "Show what a PKCS#11 module's tokens hold (the tokens, and the keys with their URIs)",
	}
	cmd.AddCommand(pkcs11ListTokensCmd(e), pkcs11ListKeysCmd(e))
	return cmd
}

func pkcs11ListTokensCmd(e *env) *cobra.Command {
	var module, output string
	cmd := &cobra.Command{
		Use:   "list-tokens --module-path MODULE",
		Short: "List the tokens present in a PKCS#11 module's slots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if module == "" {
				module = e.pkcs11Options().ModulePath
			}
			if module == "" {
				return keyError(fmt.Errorf("pkcs11: %w", pkcs11key.ErrNoModule))
			}
			tokens, err := pkcs11key.ListTokens(module)
			if err != nil {
				return keyError(err)
			}
			if output == "json" {
				return e.json(tokens)
			}
			rows := [][]string{{"SLOT", "LABEL", "MANUFACTURER", "MODEL", "SERIAL", "PIN"}}
			for _, t := range tokens {
				pin := "no"
				if t.LoginRequired {
					pin = "yes"
				}
				rows = append(rows, []string{fmt.Sprint(t.SlotID), t.Label, t.Manufacturer, t.Model, t.Serial, pin})
			}
			e.table("", rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&module, "module-path", "", "the PKCS#11 module (a shared library); default COSIGN_PKCS11_MODULE_PATH")
	cmd.Flags().StringVar(&output, "output", "text", "text or json")
	return cmd
}

func pkcs11ListKeysCmd(e *env) *cobra.Command {
	var module, token, output string
	var slot int
	cmd := &cobra.Command{
		Use:   "list-keys --module-path MODULE [--token LABEL | --slot-id N]",
		Short: "List a token's private keys, with the URI that names each (logs in: the PIN comes from COSIGN_PKCS11_PIN or a prompt)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u := &pkcs11key.URI{ModulePath: module, Token: token}
			if slot >= 0 {
				id := uint(slot)
				u.SlotID = &id
			}
			list, err := pkcs11key.ListKeys(u, e.pkcs11Options())
			if err != nil {
				return keyError(err)
			}
			if output == "json" {
				return e.json(list)
			}
			rows := [][]string{{"LABEL", "ID", "TYPE", "URI"}}
			for _, k := range list {
				typ := k.Type
				if k.Unsupported != "" {
					typ += " (unsupported)"
				}
				rows = append(rows, []string{k.Label, k.ID, typ, k.URI})
			}
			e.table("", rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&module, "module-path", "", "the PKCS#11 module (a shared library); default COSIGN_PKCS11_MODULE_PATH")
	cmd.Flags().StringVar(&token, "token", "", "the token's label (needed when the module has several tokens)")
	cmd.Flags().IntVar(&slot, "slot-id", -1, "the token's slot")
	cmd.Flags().StringVar(&output, "output", "text", "text or json")
	return cmd
}

func publicKeyCmd(e *env) *cobra.Command {
	var key, outfile string
	cmd := &cobra.Command{
		Use:   "public-key --key KEY",
		Short: "Print the PEM public key of a private key: a cosign key file, or a key in a token (PKCS#11 URI)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				return withHint(errors.New("no key"), "pass --key cosign.key or --key 'pkcs11:token=T;object=O?module-path=M'")
			}
			s, err := setup.OpenKey(key, func() ([]byte, error) { return e.password("Enter password for private key "+key, false) }, e.pkcs11Options())
			if err != nil {
				return signingError(err, nil)
			}
			if c, ok := s.(interface{ Close() error }); ok {
				e.onExit(c.Close)
			}
			pub, err := keys.MarshalPublicKey(s.Public())
			if err != nil {
				return err
			}
			if outfile != "" {
				if err := writeNew(outfile, pub, 0o644); err != nil {
					return err
				}
				e.info("public key written to %s (%s, %s)", outfile, keys.Describe(s.Public()), keys.Fingerprint(s.Public()))
				return nil
			}
			return e.raw(pub)
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "private key: an encrypted key file (cosign format), or a PKCS#11 URI")
	cmd.Flags().StringVar(&outfile, "outfile", "", "write the public key to this new file instead of standard output")
	return cmd
}
