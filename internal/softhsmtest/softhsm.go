// Package softhsmtest creates SoftHSM2 tokens in temporary folders for
// tests of PKCS#11 keys. It runs softhsm2-util; tests skip when SoftHSM2 is
// not installed (CI installs Debian's softhsm2).
package softhsmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is where Debian's softhsm2 package puts the PKCS#11 module.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// Missing returns why SoftHSM2 cannot be used here, or "" when it can.
func Missing() string {
	if _, err := os.Stat(Module); err != nil {
		return "SoftHSM2 is not installed (" + Module + " missing; apt-get install softhsm2)"
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return "softhsm2-util is not on PATH (apt-get install softhsm2)"
	}
	return ""
}

// Setup writes a SoftHSM2 configuration whose token folder is under dir
// and returns the path to set as SOFTHSM2_CONF.
func Setup(dir string) (conf string, err error) {
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return "", err
	}
	conf = filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	return conf, os.WriteFile(conf, []byte(body), 0o600)
}

// InitToken initializes a new token with label, user PIN pin and SO PIN
// so, in the configuration conf.
func InitToken(conf, label, pin, so string) error {
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("softhsm2-util --init-token --label %s: %v: %s", label, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// DeleteToken removes the token with label from the configuration conf,
// as pulling a device out would.
func DeleteToken(conf, label string) error {
	cmd := exec.Command("softhsm2-util", "--delete-token", "--token", label)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("softhsm2-util --delete-token --token %s: %v: %s", label, err, strings.TrimSpace(string(out)))
	}
	return nil
}
