package keys

import (
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// productionKDF is the scrypt cost EncryptPrivateKey uses outside tests.
var productionKDF = kdfStrength

// Tests write keys with the cheapest scrypt cost encrypted.Decrypt accepts
// (N=2^15 instead of 2^16), which halves the time of every encryption and
// decryption of a test key; encrypted.Decrypt rejects any lower cost.
func init() { kdfStrength = encrypted.Legacy }

// UseProductionKDF makes EncryptPrivateKey use its production scrypt cost
// until t ends. Tests that call it must not run in parallel.
func UseProductionKDF(t testing.TB) {
	old := kdfStrength
	kdfStrength = productionKDF
	t.Cleanup(func() { kdfStrength = old })
}
