package trust

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/condatrust/condatrust/canonjson"
)

// SpecVersion is the metadata_spec_version this package writes. Documents
// whose spec version is not 0.6.x are refused.
const SpecVersion = "0.6.0"

// The roles of conda content trust.
const (
	RoleRoot   = "root"
	RoleKeyMgr = "key_mgr"
	RolePkgMgr = "pkg_mgr"
)

// TimeFormat is the only accepted form of "timestamp" and "expiration":
// UTC, zero-padded, whole seconds.
const TimeFormat = "2006-01-02T15:04:05Z"

var timeRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)

// specVersionRE matches the metadata_spec_version values this project
// implements: 0.6.N.
var specVersionRE = regexp.MustCompile(`^0\.6\.(0|[1-9][0-9]{0,8})$`)

// Range limits of metadata numbers. They keep every version and
// threshold, and version+1, exact in an int64 and a threshold exact in an
// int on 32-bit builds, and no real channel comes near them.
const (
	MaxVersion   = 1<<53 - 1 // the largest integer a float64 JSON reader keeps exact
	MaxThreshold = 1 << 16
)

// Delegation is a set of authorized keys and how many of them must sign.
type Delegation struct {
	Keys      []PublicKey
	Threshold int
}

// Has reports whether k is one of the delegation's keys.
func (d Delegation) Has(k PublicKey) bool { return slices.Contains(d.Keys, k) }

// Metadata is a parsed root, key_mgr or pkg_mgr document.
type Metadata struct {
	Envelope    *Envelope
	Type        string
	Version     int64
	SpecVersion string
	Timestamp   time.Time
	Expiration  time.Time
	Delegations map[string]Delegation
}

// Name returns a short description such as "root v2" for messages.
func (m *Metadata) Name() string { return fmt.Sprintf("%s v%d", m.Type, m.Version) }

// Expired reports whether m is expired at t: expiration at or before t.
func (m *Metadata) Expired(t time.Time) bool { return !t.Before(m.Expiration) }

// ParseMetadata parses a signed content-trust document and checks its
// format (spec §9). wantType, when not empty, is the required "type".
func ParseMetadata(data []byte, wantType string) (*Metadata, error) {
	env, err := ParseEnvelope(data)
	if err != nil {
		if fe, ok := err.(*FormatError); ok && fe.Role == "" {
			fe.Role = wantType
		}
		return nil, err
	}
	return MetadataFromEnvelope(env, wantType)
}

// MetadataFromEnvelope checks and parses the signed part of env.
func MetadataFromEnvelope(env *Envelope, wantType string) (*Metadata, error) {
	role := wantType
	bad := func(field, format string, args ...any) error {
		return &FormatError{Role: role, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	s := env.Signed
	if s.Kind() != canonjson.Object {
		return nil, bad("signed", "must be an object, found %s", s.Kind())
	}
	m := &Metadata{Envelope: env}
	tv, ok := s.Get("type")
	if !ok || tv.Kind() != canonjson.String {
		return nil, bad("signed.type", "missing or not a string")
	}
	m.Type = tv.Str()
	if role == "" {
		role = m.Type
	}
	switch m.Type {
	case RoleRoot, RoleKeyMgr, RolePkgMgr:
	default:
		return nil, bad("signed.type", "%q is not a content-trust role (root, key_mgr, pkg_mgr)", m.Type)
	}
	if wantType != "" && m.Type != wantType {
		return nil, &VerificationError{Role: wantType, Rule: RuleType,
			Detail: fmt.Sprintf("document has type %q, expected %q", m.Type, wantType)}
	}
	vv, ok := s.Get("version")
	if !ok || !vv.IsInteger() {
		return nil, bad("signed.version", "missing or not a JSON integer")
	}
	ver, ok := vv.Int64()
	if !ok || ver < 1 || ver > MaxVersion {
		return nil, bad("signed.version", "%s is not an integer from 1 to %d", vv.NumberText(), int64(MaxVersion))
	}
	m.Version = ver
	role = fmt.Sprintf("%s v%d", m.Type, m.Version)
	sv, ok := s.Get("metadata_spec_version")
	if !ok || sv.Kind() != canonjson.String {
		return nil, bad("signed.metadata_spec_version", "missing or not a string")
	}
	m.SpecVersion = sv.Str()
	if !specVersionRE.MatchString(m.SpecVersion) {
		return nil, &VerificationError{Role: role, Rule: RuleSpecVersion,
			Detail: fmt.Sprintf("metadata_spec_version %q is not supported: this project implements 0.6.x (written 0.6.0)", m.SpecVersion)}
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"timestamp", &m.Timestamp}, {"expiration", &m.Expiration}} {
		fv, ok := s.Get(f.name)
		if !ok || fv.Kind() != canonjson.String {
			return nil, bad("signed."+f.name, "missing or not a string")
		}
		t, err := ParseTime(fv.Str())
		if err != nil {
			return nil, bad("signed."+f.name, "%v", err)
		}
		*f.dst = t
	}
	dv, ok := s.Get("delegations")
	if !ok || dv.Kind() != canonjson.Object {
		return nil, bad("signed.delegations", "missing or not an object")
	}
	m.Delegations = make(map[string]Delegation, dv.Len())
	for _, mem := range dv.Members() {
		name := string(mem.Key)
		field := "signed.delegations." + name
		d := mem.Value
		if d.Kind() != canonjson.Object || !slices.Equal(d.Keys(), []string{"pubkeys", "threshold"}) {
			return nil, bad(field, `a delegation is an object with exactly "pubkeys" and "threshold"`)
		}
		thv, _ := d.Get("threshold")
		th, ok := thv.Int64()
		if !ok || th < 1 || th > MaxThreshold {
			return nil, bad(field+".threshold", "must be a JSON integer from 1 to %d, found %s", MaxThreshold, describeValue(thv))
		}
		pkv, _ := d.Get("pubkeys")
		if pkv.Kind() != canonjson.Array {
			return nil, bad(field+".pubkeys", "must be an array of keys")
		}
		del := Delegation{Threshold: int(th)}
		for i := range pkv.Len() {
			kv := pkv.Index(i)
			k, err := ParsePublicKey(kv.Str())
			if kv.Kind() != canonjson.String || err != nil {
				return nil, bad(fmt.Sprintf("%s.pubkeys[%d]", field, i), "not 64 lowercase hex characters")
			}
			if del.Has(k) {
				return nil, bad(fmt.Sprintf("%s.pubkeys[%d]", field, i), "key %s is listed twice", k)
			}
			if err := CheckPublicKey(k); err != nil {
				ve := err.(*VerificationError)
				ve.Role = role
				ve.Detail = fmt.Sprintf("%s.pubkeys[%d]: %s", field, i, ve.Detail)
				return nil, ve
			}
			del.Keys = append(del.Keys, k)
		}
		m.Delegations[name] = del
	}
	var required []string
	switch m.Type {
	case RoleRoot:
		required = []string{RoleRoot, RoleKeyMgr}
	case RoleKeyMgr:
		required = []string{RolePkgMgr}
	}
	for _, r := range required {
		if _, ok := m.Delegations[r]; !ok {
			return nil, bad("signed.delegations", "a %s document must delegate %q", m.Type, r)
		}
	}
	return m, nil
}

func describeValue(v canonjson.Value) string {
	switch v.Kind() {
	case canonjson.Number:
		return v.NumberText()
	case canonjson.String:
		return fmt.Sprintf("%q", v.Str())
	}
	return v.Kind().String()
}

// ParseTime parses a timestamp in the only accepted form,
// YYYY-MM-DDTHH:MM:SSZ.
func ParseTime(s string) (time.Time, error) {
	if !timeRE.MatchString(s) {
		return time.Time{}, fmt.Errorf("%q is not of the form YYYY-MM-DDTHH:MM:SSZ (UTC, whole seconds)", s)
	}
	t, err := time.Parse(TimeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a valid time: %v", s, err)
	}
	return t, nil
}

// FormatTime formats t in the metadata time format.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Params describes a document to build with [Build].
type Params struct {
	Type        string // RoleRoot, RoleKeyMgr or RolePkgMgr
	Version     int64  // at least 1
	Timestamp   time.Time
	Expiration  time.Time
	Delegations map[string]Delegation
}

// Build returns an unsigned envelope holding exactly the six fields the
// reference builder writes: type, version, metadata_spec_version,
// timestamp, expiration and delegations. Times are truncated to whole
// seconds in UTC. The result passes [MetadataFromEnvelope].
func Build(p Params) (*Envelope, error) {
	if p.Version < 1 || p.Version > MaxVersion {
		return nil, fmt.Errorf("version must be from 1 to %d, got %d", int64(MaxVersion), p.Version)
	}
	ts, ex := p.Timestamp.UTC().Truncate(time.Second), p.Expiration.UTC().Truncate(time.Second)
	if !ex.After(ts) {
		return nil, fmt.Errorf("expiration %s is not after timestamp %s", FormatTime(ex), FormatTime(ts))
	}
	dels := make(map[string]canonjson.Value, len(p.Delegations))
	for name, d := range p.Delegations {
		if d.Threshold < 1 {
			return nil, fmt.Errorf("delegation %q: threshold must be at least 1, got %d", name, d.Threshold)
		}
		if d.Threshold > len(d.Keys) {
			return nil, fmt.Errorf("delegation %q: threshold %d is more than its %d keys, so nothing could ever verify", name, d.Threshold, len(d.Keys))
		}
		keys := make([]string, len(d.Keys))
		for i, k := range d.Keys {
			if slices.Contains(d.Keys[:i], k) {
				return nil, fmt.Errorf("delegation %q: key %s is listed twice", name, k)
			}
			keys[i] = k.String()
		}
		kv, _ := canonjson.FromGo(keys)
		dels[name] = mustObject(map[string]canonjson.Value{
			"pubkeys":   kv,
			"threshold": canonjson.NewInt(int64(d.Threshold)),
		})
	}
	signed := mustObject(map[string]canonjson.Value{
		"type":                  canonjson.MustString(p.Type),
		"version":               canonjson.NewInt(p.Version),
		"metadata_spec_version": canonjson.MustString(SpecVersion),
		"timestamp":             canonjson.MustString(FormatTime(ts)),
		"expiration":            canonjson.MustString(FormatTime(ex)),
		"delegations":           mustObject(dels),
	})
	var roles []RoleKeys
	for name, d := range p.Delegations {
		roles = append(roles, RoleKeys{Role: name, Keys: d.Keys})
	}
	if err := CheckDistinctRoles(roles...); err != nil {
		return nil, err
	}
	env := Wrap(signed)
	if _, err := MetadataFromEnvelope(env, p.Type); err != nil {
		return nil, err
	}
	return env, nil
}
