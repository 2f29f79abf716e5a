//go:build pkcs11 && cgo

// Package pkcs11key signs with Ed25519 keys held in PKCS#11 tokens
// (hardware security modules, smartcards, SoftHSM2) and creates them there.
//
// Importing it registers it with [signer.RegisterPKCS11], after which
// [signer.Open] accepts pkcs11: URIs (RFC 7512, see [signer.PKCS11URI]).
// It needs cgo and is built only with the build tag pkcs11 (`make build`);
// the verification packages never import it.
//
// A key is used through a pool of logged-in sessions, one per worker, so
// that signing many package records keeps every core busy while the token
// signs. Signing uses CKM_EDDSA (pure Ed25519, no parameters); key pairs
// are made with CKM_EC_EDWARDS_KEY_PAIR_GEN, marked sensitive and not
// extractable. Before a key is used it signs a random challenge that is
// verified against its public object, so a URI that pairs one key's
// private object with another's public one is refused.
package pkcs11key

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"
	"golang.org/x/term"

	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// PKCS#11 3.0 constants the binding does not define.
const (
	ckkECEdwards           = 0x40
	ckmECEdwardsKeyPairGen = 0x1055
	ckmEdDSA               = 0x1057
)

// DER encodings of the Ed25519 curve in CKA_EC_PARAMS: the OID 1.3.101.112
// and the PrintableString "edwards25519" (PKCS#11 3.0 allows both).
var (
	ed25519OID  = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	ed25519Name = append([]byte{0x13, 0x0c}, "edwards25519"...)
)

func init() { signer.RegisterPKCS11(provider{}) }

type provider struct{}

func (provider) Open(u *signer.PKCS11URI) (signer.Signer, error) { return Open(u) }

func (provider) Generate(u *signer.PKCS11URI) (signer.Signer, *signer.PKCS11URI, error) {
	return Generate(u)
}

// Error is a failure of the token or of the key a URI names. It names
// the URI (never the PIN) and, where the token gave one, its return code.
type Error struct {
	URI  string // canonical URI, without secrets
	What string
	Code uint // CKR_* when the token returned one, else 0
	Hint string
}

func (e *Error) Error() string {
	msg := e.URI + ": " + e.What
	if e.Code != 0 {
		name := pkcs11.Error(e.Code).Error() // "pkcs11: 0xA0: CKR_PIN_INCORRECT"
		if i := strings.LastIndex(name, ": "); i >= 0 {
			name = name[i+2:]
		}
		msg += " (" + name + ")"
	}
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// ErrRemoved matches the error of a signature attempted after the token
// was removed or its sessions were closed.
var ErrRemoved = errors.New("the token was removed or its sessions closed")

func (e *Error) Is(target error) bool {
	return target == ErrRemoved && isRemoval(e.Code)
}

func isRemoval(code uint) bool {
	switch code {
	case pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_SESSION_HANDLE_INVALID,
		pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, pkcs11.CKR_USER_NOT_LOGGED_IN,
		pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_TOKEN_NOT_RECOGNIZED:
		return true
	}
	return false
}

func codeOf(err error) uint {
	var pe pkcs11.Error
	if errors.As(err, &pe) {
		return uint(pe)
	}
	return 0
}

// module is one loaded PKCS#11 library, shared by every key of the
// process that uses it (C_Initialize may be called once per process).
type module struct {
	path string
	ctx  *pkcs11.Ctx
	refs int
}

var (
	modMu   sync.Mutex
	modules = map[string]*module{}
)

func loadModule(uri string, path string) (*module, error) {
	modMu.Lock()
	defer modMu.Unlock()
	if m := modules[path]; m != nil {
		m.refs++
		return m, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, &Error{URI: uri, What: fmt.Sprintf("PKCS#11 module %s: %v", path, err), Hint: "give the module's file with module-path= (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)"}
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, &Error{URI: uri, What: fmt.Sprintf("cannot load %s as a PKCS#11 module", path), Hint: "is it a PKCS#11 library for this architecture?"}
	}
	if err := ctx.Initialize(); err != nil && codeOf(err) != pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
		ctx.Destroy()
		return nil, &Error{URI: uri, What: "C_Initialize failed", Code: codeOf(err), Hint: "check the module's configuration (SoftHSM2: SOFTHSM2_CONF and its tokendir)"}
	}
	m := &module{path: path, ctx: ctx, refs: 1}
	modules[path] = m
	return m, nil
}

func (m *module) release() {
	modMu.Lock()
	defer modMu.Unlock()
	m.refs--
	if m.refs == 0 {
		m.ctx.Finalize()
		m.ctx.Destroy()
		delete(modules, m.path)
	}
}

// Key is an Ed25519 private key in a token, used through a pool of
// logged-in sessions. It is safe for concurrent use.
type Key struct {
	uri   string
	mod   *module
	slot  uint
	label string // the token's label, for messages
	pub   trust.PublicKey
	priv  pkcs11.ObjectHandle

	pool    chan pkcs11.SessionHandle
	broken  chan struct{} // closed after a removal
	brkOnce sync.Once
	brkErr  error
	signs   atomic.Int64
	closed  atomic.Bool
}

// TestHookBeforeSign, when set, runs before each signature with the
// number of signatures made so far by the key. Tests use it to remove a
// token mid-run; it is not for other use.
var TestHookBeforeSign func(k *Key, n int64)

// Open logs in to the token u names and returns its Ed25519 key. The PIN
// comes from u's pin-source, else $CONDATRUST_PKCS11_PIN, else a prompt
// on the terminal; without any of them Open fails.
func Open(u *signer.PKCS11URI) (*Key, error) {
	k, sh, err := start(u)
	if err != nil {
		return nil, err
	}
	if err := k.find(sh); err != nil {
		k.closeSession(sh)
		k.release()
		return nil, err
	}
	if err := k.fillPool(sh); err != nil {
		k.release()
		return nil, err
	}
	if err := k.selfCheck(); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// Generate creates an Ed25519 key pair in the token u names, labelled
// u.Object and with id u.ID (16 random bytes when u has no id), after
// checking that no object there has that label or id. The private key is
// sensitive and not extractable. It returns the key and a URI naming it
// by label and id.
func Generate(u *signer.PKCS11URI) (*Key, *signer.PKCS11URI, error) {
	if u.Object == "" {
		return nil, nil, &Error{URI: u.String(), What: "a new key needs a label", Hint: "add object=NAME to the URI"}
	}
	nu := *u
	if !nu.HasID {
		id := make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return nil, nil, err
		}
		nu.ID, nu.HasID = id, true
	}
	k, sh, err := start(&nu)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*Key, *signer.PKCS11URI, error) {
		k.closeSession(sh)
		k.release()
		return nil, nil, err
	}
	ctx := k.mod.ctx
	for _, tmpl := range [][]*pkcs11.Attribute{
		{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nu.Object)},
		{pkcs11.NewAttribute(pkcs11.CKA_ID, nu.ID)},
	} {
		objs, err := k.findObjects(sh, tmpl)
		if err != nil {
			return fail(err)
		}
		if len(objs) > 0 {
			return fail(&Error{URI: k.uri, What: fmt.Sprintf("token %q already holds %d object(s) with this label or id", k.label, len(objs)),
				Hint: "keys are never overwritten: pick a new object= label and id"})
		}
	}
	if err := k.requireMechanism(ckmECEdwardsKeyPairGen, "CKM_EC_EDWARDS_KEY_PAIR_GEN (Ed25519 key generation)"); err != nil {
		return fail(err)
	}
	pubT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, ed25519OID),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nu.Object),
		pkcs11.NewAttribute(pkcs11.CKA_ID, nu.ID),
	}
	privT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nu.Object),
		pkcs11.NewAttribute(pkcs11.CKA_ID, nu.ID),
	}
	if _, _, err := ctx.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmECEdwardsKeyPairGen, nil)}, pubT, privT); err != nil {
		return fail(&Error{URI: k.uri, What: fmt.Sprintf("token %q could not generate an Ed25519 key pair", k.label), Code: codeOf(err)})
	}
	k.uri = nu.String()
	if err := k.find(sh); err != nil {
		return fail(err)
	}
	if err := k.fillPool(sh); err != nil {
		k.release()
		return nil, nil, err
	}
	if err := k.selfCheck(); err != nil {
		k.Close()
		return nil, nil, err
	}
	return k, &nu, nil
}

// start loads the module, picks the token, opens a session and logs in.
func start(u *signer.PKCS11URI) (*Key, pkcs11.SessionHandle, error) {
	uri := u.String()
	pin, ok, err := u.ReadPIN()
	if err != nil {
		return nil, 0, &Error{URI: uri, What: err.Error()}
	}
	mod, err := loadModule(uri, u.ModulePath)
	if err != nil {
		return nil, 0, err
	}
	k := &Key{uri: uri, mod: mod, broken: make(chan struct{})}
	slot, label, err := pickToken(mod.ctx, u, uri)
	if err != nil {
		mod.release()
		return nil, 0, err
	}
	k.slot, k.label = slot, label
	if !ok {
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			mod.release()
			return nil, 0, &Error{URI: uri, What: fmt.Sprintf("no PIN for token %q", label),
				Hint: fmt.Sprintf("add pin-source=file:PATH to the URI (a file only you can read), set %s, or run from a terminal to be asked", signer.PKCS11PINEnv)}
		}
		fmt.Fprintf(os.Stderr, "PIN for token %q: ", label)
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			mod.release()
			return nil, 0, &Error{URI: uri, What: "reading the PIN: " + err.Error()}
		}
		pin = string(b)
	}
	sh, err := mod.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		mod.release()
		return nil, 0, &Error{URI: uri, What: fmt.Sprintf("cannot open a session on token %q", label), Code: codeOf(err)}
	}
	if err := mod.ctx.Login(sh, pkcs11.CKU_USER, pin); err != nil && codeOf(err) != pkcs11.CKR_USER_ALREADY_LOGGED_IN {
		mod.ctx.CloseSession(sh)
		mod.release()
		e := &Error{URI: uri, What: fmt.Sprintf("login to token %q failed", label), Code: codeOf(err)}
		switch codeOf(err) {
		case pkcs11.CKR_PIN_INCORRECT:
			e.What = fmt.Sprintf("wrong PIN for token %q", label)
			e.Hint = "nothing was signed; check the pin-source file (tokens lock the PIN after a few wrong tries, so do not retry in a loop)"
		case pkcs11.CKR_PIN_LOCKED:
			e.What = fmt.Sprintf("the PIN of token %q is locked", label)
			e.Hint = "the security officer must unlock it"
		}
		return nil, 0, e
	}
	return k, sh, nil
}

// pickToken returns the one slot whose token matches u's token
// attributes.
func pickToken(ctx *pkcs11.Ctx, u *signer.PKCS11URI, uri string) (uint, string, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, "", &Error{URI: uri, What: "cannot list the module's slots", Code: codeOf(err)}
	}
	var found []uint
	var labels, seen []string
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		label := strings.TrimRight(ti.Label, " \x00")
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		seen = append(seen, fmt.Sprintf("%q (serial %s)", label, strings.TrimSpace(ti.SerialNumber)))
		if u.SlotID != nil && *u.SlotID != s ||
			u.Token != "" && u.Token != label ||
			u.Serial != "" && u.Serial != strings.TrimRight(ti.SerialNumber, " \x00") ||
			u.Manufacturer != "" && u.Manufacturer != strings.TrimRight(ti.ManufacturerID, " \x00") ||
			u.Model != "" && u.Model != strings.TrimRight(ti.Model, " \x00") {
			continue
		}
		found = append(found, s)
		labels = append(labels, label)
	}
	switch len(found) {
	case 1:
		return found[0], labels[0], nil
	case 0:
		have := "no initialized token is present"
		if len(seen) > 0 {
			have = "tokens present: " + strings.Join(seen, ", ")
		}
		return 0, "", &Error{URI: uri, What: "no token matches the URI's token attributes", Hint: have}
	default:
		return 0, "", &Error{URI: uri, What: fmt.Sprintf("%d tokens match (%s)", len(found), strings.Join(labels, ", ")), Hint: "add serial= or slot-id= to pick one"}
	}
}

func (k *Key) findObjects(sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	ctx := k.mod.ctx
	if err := ctx.FindObjectsInit(sh, tmpl); err != nil {
		return nil, &Error{URI: k.uri, What: "searching the token", Code: codeOf(err)}
	}
	defer ctx.FindObjectsFinal(sh)
	var all []pkcs11.ObjectHandle
	for {
		objs, _, err := ctx.FindObjects(sh, 16)
		if err != nil {
			return nil, &Error{URI: k.uri, What: "searching the token", Code: codeOf(err)}
		}
		if len(objs) == 0 {
			return all, nil
		}
		all = append(all, objs...)
	}
}

// selector is the template selecting the URI's objects of one class.
func (k *Key) selector(u *signer.PKCS11URI, class uint) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}
	if u.Object != "" {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object))
	}
	if u.HasID {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_ID, u.ID))
	}
	return t
}

// find locates the private key and its public key, checks that they are
// Ed25519 and reads the public key.
func (k *Key) find(sh pkcs11.SessionHandle) error {
	u, err := signer.ParsePKCS11URI(k.uri)
	if err != nil {
		return err
	}
	privs, err := k.findObjects(sh, k.selector(u, pkcs11.CKO_PRIVATE_KEY))
	if err != nil {
		return err
	}
	switch len(privs) {
	case 0:
		return &Error{URI: k.uri, What: fmt.Sprintf("token %q has no private key with this label and id", k.label),
			Hint: "check object= and id= (pkcs11-tool --list-objects --login lists them), or create the key with conda-trust keygen NAME --key pkcs11:...;object=LABEL"}
	case 1:
	default:
		return &Error{URI: k.uri, What: fmt.Sprintf("token %q has %d private keys matching the URI", k.label, len(privs)), Hint: "add id= to pick one"}
	}
	k.priv = privs[0]
	ctx := k.mod.ctx
	attrs, err := ctx.GetAttributeValue(sh, k.priv, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
	})
	if err != nil {
		return &Error{URI: k.uri, What: "reading the private key's attributes", Code: codeOf(err)}
	}
	if kt := attrUint(attrs[0].Value); kt != ckkECEdwards {
		return &Error{URI: k.uri, What: fmt.Sprintf("the key is a %s key, not Ed25519", keyTypeName(kt)),
			Hint: "content trust signs with Ed25519 only: create one with conda-trust keygen NAME --key pkcs11:...;object=NEWLABEL"}
	}
	id := attrs[1].Value
	pubSel := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_ID, id)}
	if u.Object != "" {
		pubSel = append(pubSel, pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object))
	}
	pubs, err := k.findObjects(sh, pubSel)
	if err != nil {
		return err
	}
	if len(pubs) != 1 {
		return &Error{URI: k.uri, What: fmt.Sprintf("token %q has %d public keys with the private key's id (want exactly 1)", k.label, len(pubs)),
			Hint: "the public key object is needed to know the key's identity; import it with the same id and label"}
	}
	pattrs, err := ctx.GetAttributeValue(sh, pubs[0], []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
	})
	if err != nil {
		return &Error{URI: k.uri, What: "reading the public key", Code: codeOf(err)}
	}
	if p := pattrs[0].Value; !bytes.Equal(p, ed25519OID) && !bytes.Equal(p, ed25519Name) {
		return &Error{URI: k.uri, What: fmt.Sprintf("the key's curve (CKA_EC_PARAMS %x) is not Ed25519", p), Hint: "content trust signs with Ed25519 only"}
	}
	pt := pattrs[1].Value
	switch {
	case len(pt) == 34 && pt[0] == 0x04 && pt[1] == 32: // DER OCTET STRING
		pt = pt[2:]
	case len(pt) == 32:
	default:
		return &Error{URI: k.uri, What: fmt.Sprintf("the public key (CKA_EC_POINT, %d bytes) is not a 32-byte Ed25519 key", len(pt))}
	}
	copy(k.pub[:], pt)
	if err := k.requireMechanism(ckmEdDSA, "CKM_EDDSA (Ed25519 signing)"); err != nil {
		return err
	}
	return nil
}

func (k *Key) requireMechanism(mech uint, name string) error {
	mechs, err := k.mod.ctx.GetMechanismList(k.slot)
	if err != nil {
		return &Error{URI: k.uri, What: "listing the token's mechanisms", Code: codeOf(err)}
	}
	for _, m := range mechs {
		if m.Mechanism == mech {
			return nil
		}
	}
	return &Error{URI: k.uri, What: fmt.Sprintf("token %q does not offer %s", k.label, name), Hint: "use a token with PKCS#11 3.0 Ed25519 support (SoftHSM2 2.6 or later, YubiHSM 2, recent Nitrokey and Thales firmware)"}
}

// fillPool puts sh and more sessions, one per worker, into the pool.
func (k *Key) fillPool(sh pkcs11.SessionHandle) error {
	n := runtime.GOMAXPROCS(0)
	k.pool = make(chan pkcs11.SessionHandle, n)
	k.pool <- sh
	for i := 1; i < n; i++ {
		s, err := k.mod.ctx.OpenSession(k.slot, pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			break // a token with fewer sessions: the pool is smaller
		}
		k.pool <- s
	}
	return nil
}

// selfCheck signs a random challenge and verifies it with the public key.
func (k *Key) selfCheck() error {
	msg := make([]byte, 48)
	copy(msg, "condatrust pkcs11 self-check ")
	rand.Read(msg[29:])
	sig, err := k.sign(msg, false)
	if err != nil {
		return err
	}
	if !ed25519.Verify(ed25519.PublicKey(k.pub[:]), msg, sig) {
		return &Error{URI: k.uri, What: "the private key's signature does not verify with the public key object of the same id",
			Hint: "the token's public and private objects do not form a pair; fix the token's objects"}
	}
	return nil
}

// Public returns the Ed25519 public key.
func (k *Key) Public() trust.PublicKey { return k.pub }

// Ref returns the key's URI (never with a PIN).
func (k *Key) Ref() string { return k.uri }

// Sign returns the Ed25519 signature of msg made by the token.
func (k *Key) Sign(msg []byte) ([]byte, error) { return k.sign(msg, true) }

func (k *Key) sign(msg []byte, hook bool) ([]byte, error) {
	if k.closed.Load() {
		return nil, &Error{URI: k.uri, What: "the key was closed"}
	}
	if hook && TestHookBeforeSign != nil {
		TestHookBeforeSign(k, k.signs.Load())
	}
	var sh pkcs11.SessionHandle
	select {
	case sh = <-k.pool:
	case <-k.broken:
		return nil, k.brkErr
	}
	ctx := k.mod.ctx
	err := ctx.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, k.priv)
	var sig []byte
	if err == nil {
		sig, err = ctx.Sign(sh, msg)
	}
	if err != nil {
		code := codeOf(err)
		if isRemoval(code) {
			k.brkOnce.Do(func() {
				k.brkErr = &Error{URI: k.uri, What: fmt.Sprintf("token %q stopped signing after %d signatures", k.label, k.signs.Load()), Code: code,
					Hint: "it was removed or its sessions were closed; nothing signed after that is used: reconnect it and run again"}
				close(k.broken)
			})
			return nil, k.brkErr
		}
		k.pool <- sh
		return nil, &Error{URI: k.uri, What: "the token could not sign", Code: code}
	}
	k.pool <- sh
	if len(sig) != ed25519.SignatureSize {
		return nil, &Error{URI: k.uri, What: fmt.Sprintf("the token returned a %d-byte signature, not a 64-byte Ed25519 one", len(sig))}
	}
	k.signs.Add(1)
	return sig, nil
}

// SimulateRemoval does to the key what unplugging its token does: every
// session of the process on the token is closed (C_CloseAllSessions), so
// later signatures fail. It waits for signatures in flight to finish
// first (SoftHSM2 is not safe against closing a session in use), so call
// it from TestHookBeforeSign or while no signature is being made. For
// tests.
func (k *Key) SimulateRemoval() error {
	held := make([]pkcs11.SessionHandle, 0, cap(k.pool))
	for len(held) < cap(k.pool) {
		held = append(held, <-k.pool)
	}
	err := k.mod.ctx.CloseAllSessions(k.slot)
	for _, sh := range held {
		k.pool <- sh
	}
	return err
}

func (k *Key) closeSession(sh pkcs11.SessionHandle) { k.mod.ctx.CloseSession(sh) }

func (k *Key) release() { k.mod.release() }

// Close logs out, closes the key's sessions and, when no other key uses
// the module, finalizes it.
func (k *Key) Close() error {
	if k.closed.Swap(true) {
		return nil
	}
	ctx := k.mod.ctx
	first := true
	for {
		select {
		case sh := <-k.pool:
			if first {
				ctx.Logout(sh)
				first = false
			}
			ctx.CloseSession(sh)
			continue
		default:
		}
		break
	}
	k.release()
	return nil
}

func attrUint(b []byte) uint {
	var v uint
	for i := len(b) - 1; i >= 0; i-- { // little-endian CK_ULONG on the platforms cgo builds for
		v = v<<8 | uint(b[i])
	}
	return v
}

func keyTypeName(kt uint) string {
	switch kt {
	case pkcs11.CKK_RSA:
		return "RSA"
	case pkcs11.CKK_EC:
		return "ECDSA (CKK_EC)"
	case pkcs11.CKK_DSA:
		return "DSA"
	case 0x41:
		return "X25519/X448 (CKK_EC_MONTGOMERY)"
	}
	return fmt.Sprintf("key type 0x%x", kt)
}
