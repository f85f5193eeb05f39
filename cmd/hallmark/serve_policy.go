package main

import (
	"github.com/spf13/cobra"

	"hallmark.dev/internal/policystore"
	"hallmark.dev/signpolicy"
)

// bindPolicyWriterFlags binds serve's signing policy writer flags to c.
func bindPolicyWriterFlags(cmd *cobra.Command, c *policystore.Config) {
	cmd.Flags().StringArrayVar(&c.WriterKeys, "policy-writer-key", nil, "accept signing policy versions signed by this public key (PEM file); repeatable")
	cmd.Flags().Var(&identityList{list: &c.Writers}, "policy-writer", "accept signing policy versions signed keylessly by this identity, ISSUER=SUBJECT; repeatable")
}

// identityList is a repeatable ISSUER=SUBJECT flag.
type identityList struct{ list *[]signpolicy.Identity }

func (l *identityList) String() string {
	if l.list == nil {
		return ""
	}
	var out string
	for i, id := range *l.list {
		if i > 0 {
			out += ","
		}
		out += id.Issuer + "=" + id.Subject
	}
	return out
}

func (l *identityList) Set(spec string) error {
	id, err := signpolicy.ParseIdentity(spec)
	if err != nil {
		return err
	}
	*l.list = append(*l.list, id)
	return nil
}

func (l *identityList) Type() string { return "ISSUER=SUBJECT" }
