package ca

import "crypto/x509"

// OnIssue makes c call f with every certificate it issues. Call it before
// c serves requests.
func OnIssue(c *CA, f func(*x509.Certificate)) { c.onIssue = f }
