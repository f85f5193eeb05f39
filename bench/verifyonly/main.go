// Command verifyonly verifies a blob against a bundle with a public key,
// linking only the verification library (hallmark.dev/verify and
// hallmark.dev/keys): bench/inittrace measures its package initialisation
// beside hallmark's, as the floor of a command-line verification whose
// binary links nothing else.
//
//	go run ./bench/verifyonly KEY.pub BUNDLE FILE
package main

import (
	"fmt"
	"os"

	"hallmark.dev/keys"
	"hallmark.dev/verify"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "verifyonly: error: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: verifyonly KEY.pub BUNDLE FILE")
	}
	pemBytes, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	pub, err := keys.ParsePublicKey(pemBytes)
	if err != nil {
		return err
	}
	k, err := verify.NewKeys(pub)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(args[1])
	if err != nil {
		return err
	}
	f, err := os.Open(args[2])
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := verify.Blob(args[1], b, verify.Artifact{Content: f}, verify.BlobPolicy{Authority: k}); err != nil {
		return err
	}
	fmt.Println("Verified OK")
	return nil
}
