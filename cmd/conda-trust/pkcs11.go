//go:build pkcs11 && cgo

package main

// Built with the pkcs11 tag (make build): signing verbs and keygen accept
// pkcs11: key references.
import _ "github.com/condatrust/condatrust/signer/pkcs11key"

func init() { pkcs11Built = true }
