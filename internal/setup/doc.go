// Package setup reads what hallmark's commands name by path or URL (key
// files, trusted roots, signing configs, policy files, a hallmark server's
// trust documents) and builds from them, through the constructors of the
// pure packages, the signers, authorities and checks every command uses the
// same way. Decisions (which signer, what
// contradicts what) are the constructors': this package only reads.
package setup
