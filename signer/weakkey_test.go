package signer_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// TestPublicKeyWeakRefused: small-order and non-canonical keys are refused
// from an argument and from a file, naming the file.
func TestPublicKeyWeakRefused(t *testing.T) {
	identity := make([]byte, 32)
	identity[0] = 1 // y = 1, x = 0: the identity point
	nonCanonical := bytes.Repeat([]byte{0xff}, 32)
	nonCanonical[31] = 0x7f // y = 2^255 - 1 >= p
	dir := t.TempDir()
	for name, raw := range map[string][]byte{"identity": identity, "noncanonical": nonCanonical} {
		hx := hex.EncodeToString(raw)
		if _, err := signer.ParsePublicKeyArg(hx); !isWeakKey(err) {
			t.Errorf("%s as hex argument: %v, want a weak-key refusal", name, err)
		}
		for _, file := range []struct {
			name string
			data []byte
		}{{name + ".pub", []byte(hx + "\n")}, {name + "-raw.pub", raw}, {name + "-raw", raw}} {
			p := filepath.Join(dir, file.name)
			os.WriteFile(p, file.data, 0o644)
			for fn, read := range map[string]func(string) (trust.PublicKey, error){
				"ParsePublicKeyArg": signer.ParsePublicKeyArg, "ReadPublicKeyFile": signer.ReadPublicKeyFile,
			} {
				_, err := read(p)
				if !isWeakKey(err) || !strings.Contains(err.Error(), p) {
					t.Errorf("%s(%s): %v, want a weak-key refusal naming the file", fn, file.name, err)
				}
			}
		}
	}
}

func isWeakKey(err error) bool {
	var ve *trust.VerificationError
	return errors.As(err, &ve) && ve.Rule == trust.RuleWeakKey && errors.Is(err, trust.ErrVerification)
}
