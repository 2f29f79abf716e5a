package canonjson

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
)

// Kind is the JSON type of a [Value].
type Kind uint8

// The kinds of JSON values.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "boolean"
	case Number:
		return "number"
	case String:
		return "string"
	case Array:
		return "array"
	case Object:
		return "object"
	}
	return "invalid"
}

const (
	flagTrue     = 1 << iota // Bool: true
	flagFloat                // Number: a float (Python float), else an integer
	flagPlain                // String: only printable ASCII without '"' or '\\': written as is
	flagKeyPlain             // on a member's Value: the member's key is plain
)

// Value is a parsed JSON value that keeps what canonical serialization
// needs: strings as decoded UTF-8, integers as exact decimal digits, floats
// in Python's repr form, and object members sorted by key with duplicates
// resolved (last wins). The zero Value is JSON null.
//
// A Value returned by [Parse] may share memory with the parsed input; the
// input must not be modified while the Value is in use.
type Value struct {
	kind  Kind
	flags uint8
	text  []byte   // String: decoded UTF-8; Number: canonical text
	kids  []Member // Array: elements (Key nil); Object: members sorted by Key
}

// Member is one key/value pair of an object (or one element of an array,
// with a nil key).
type Member struct {
	Key   []byte
	Value Value
}

// Kind reports the JSON type of v.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is JSON null.
func (v Value) IsNull() bool { return v.kind == Null }

// Str returns the string of a String value, and "" for any other kind.
func (v Value) Str() string {
	if v.kind != String {
		return ""
	}
	return string(v.text)
}

// Bool returns the value of a Bool value, false for any other kind.
func (v Value) Bool() bool { return v.kind == Bool && v.flags&flagTrue != 0 }

// IsInteger reports whether v is a number written without fraction or
// exponent, which Python parses as an int.
func (v Value) IsInteger() bool { return v.kind == Number && v.flags&flagFloat == 0 }

// IsFloat reports whether v is a number Python parses as a float.
func (v Value) IsFloat() bool { return v.kind == Number && v.flags&flagFloat != 0 }

// NumberText returns the canonical text of a number ("12", "1.5", "1e+16"),
// or "" for any other kind.
func (v Value) NumberText() string {
	if v.kind != Number {
		return ""
	}
	return string(v.text)
}

// Int64 returns an integer value that fits in an int64.
func (v Value) Int64() (int64, bool) {
	if !v.IsInteger() {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v.text), 10, 64)
	return n, err == nil
}

// Len returns the number of elements of an array or members of an object.
func (v Value) Len() int {
	if v.kind != Array && v.kind != Object {
		return 0
	}
	return len(v.kids)
}

// Index returns element i of an array.
func (v Value) Index(i int) Value {
	if v.kind != Array {
		panic("canonjson: Index on " + v.kind.String())
	}
	return v.kids[i].Value
}

// Members returns the members of an object sorted by key, or the elements
// of an array (with nil keys). The slice must not be modified.
func (v Value) Members() []Member {
	if v.kind != Array && v.kind != Object {
		return nil
	}
	return v.kids
}

// Keys returns the keys of an object in canonical order.
func (v Value) Keys() []string {
	if v.kind != Object {
		return nil
	}
	ks := make([]string, len(v.kids))
	for i, m := range v.kids {
		ks[i] = string(m.Key)
	}
	return ks
}

// Get returns the member of an object named key.
func (v Value) Get(key string) (Value, bool) {
	if v.kind != Object {
		return Value{}, false
	}
	i, ok := slices.BinarySearchFunc(v.kids, key, func(m Member, k string) int {
		return bytes.Compare(m.Key, []byte(k))
	})
	if !ok {
		return Value{}, false
	}
	return v.kids[i].Value, true
}

// Equal reports whether v and w have the same canonical form.
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind || v.flags&^flagKeyPlain != w.flags&^flagKeyPlain || !bytes.Equal(v.text, w.text) || len(v.kids) != len(w.kids) {
		return false
	}
	for i := range v.kids {
		if !bytes.Equal(v.kids[i].Key, w.kids[i].Key) || !v.kids[i].Value.Equal(w.kids[i].Value) {
			return false
		}
	}
	return true
}

// NewNull returns JSON null.
func NewNull() Value { return Value{} }

// NewBool returns a JSON boolean.
func NewBool(b bool) Value {
	v := Value{kind: Bool}
	if b {
		v.flags = flagTrue
	}
	return v
}

// NewString returns a JSON string. It returns an error if s is not valid
// UTF-8, since such a string cannot be serialized canonically.
func NewString(s string) (Value, error) {
	b := []byte(s)
	plain, err := checkString(b)
	if err != nil {
		return Value{}, err
	}
	v := Value{kind: String, text: b}
	if plain {
		v.flags = flagPlain
	}
	return v, nil
}

// MustString is [NewString] for strings known to be valid UTF-8; it panics
// otherwise.
func MustString(s string) Value {
	v, err := NewString(s)
	if err != nil {
		panic(err)
	}
	return v
}

// NewInt returns a JSON integer.
func NewInt(n int64) Value {
	return Value{kind: Number, text: strconv.AppendInt(nil, n, 10)}
}

// NewBigInt returns a JSON integer of any size.
func NewBigInt(n *big.Int) Value {
	return Value{kind: Number, text: n.Append(nil, 10)}
}

// NewFloat returns a JSON number that Python reads as a float. Non-finite
// values have no JSON form and return an error.
func NewFloat(f float64) (Value, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{}, fmt.Errorf("canonjson: %v has no JSON representation", f)
	}
	return Value{kind: Number, flags: flagFloat, text: appendPyFloat(nil, f)}, nil
}

// NewArray returns a JSON array of the given elements.
func NewArray(elems ...Value) Value {
	kids := make([]Member, len(elems))
	for i, e := range elems {
		kids[i].Value = e
	}
	return Value{kind: Array, kids: kids}
}

// NewObject returns a JSON object with the given members.
func NewObject(members map[string]Value) (Value, error) {
	kids := make([]Member, 0, len(members))
	for k, val := range members {
		plain, err := checkString([]byte(k))
		if err != nil {
			return Value{}, fmt.Errorf("object key %q: %w", k, err)
		}
		if plain {
			val.flags |= flagKeyPlain
		} else {
			val.flags &^= flagKeyPlain
		}
		kids = append(kids, Member{Key: []byte(k), Value: val})
	}
	slices.SortFunc(kids, func(a, b Member) int { return bytes.Compare(a.Key, b.Key) })
	return Value{kind: Object, kids: kids}, nil
}

// With returns a copy of the object v with key set to val (added or
// replaced). v itself is not modified.
func (v Value) With(key string, val Value) (Value, error) {
	if v.kind != Object {
		return Value{}, fmt.Errorf("canonjson: With on %s", v.kind)
	}
	plain, err := checkString([]byte(key))
	if err != nil {
		return Value{}, fmt.Errorf("object key %q: %w", key, err)
	}
	if plain {
		val.flags |= flagKeyPlain
	} else {
		val.flags &^= flagKeyPlain
	}
	kids := slices.Clone(v.kids)
	i, found := slices.BinarySearchFunc(kids, key, func(m Member, k string) int {
		return bytes.Compare(m.Key, []byte(k))
	})
	if found {
		kids[i].Value = val
	} else {
		kids = slices.Insert(kids, i, Member{Key: []byte(key), Value: val})
	}
	return Value{kind: Object, kids: kids}, nil
}

// Without returns a copy of the object v without key.
func (v Value) Without(key string) Value {
	if v.kind != Object {
		return v
	}
	kids := slices.DeleteFunc(slices.Clone(v.kids), func(m Member) bool { return string(m.Key) == key })
	return Value{kind: Object, kids: kids}
}

// FromGo converts a Go value built from nil, bool, string, int, int64,
// uint64, float64, *big.Int, Value, []any, []string, map[string]any and
// map[string]string into a Value.
func FromGo(x any) (Value, error) {
	switch t := x.(type) {
	case nil:
		return NewNull(), nil
	case Value:
		return t, nil
	case bool:
		return NewBool(t), nil
	case string:
		return NewString(t)
	case int:
		return NewInt(int64(t)), nil
	case int64:
		return NewInt(t), nil
	case uint64:
		return Value{kind: Number, text: strconv.AppendUint(nil, t, 10)}, nil
	case float64:
		return NewFloat(t)
	case *big.Int:
		return NewBigInt(t), nil
	case []string:
		elems := make([]Value, len(t))
		for i, s := range t {
			e, err := NewString(s)
			if err != nil {
				return Value{}, err
			}
			elems[i] = e
		}
		return NewArray(elems...), nil
	case []any:
		elems := make([]Value, len(t))
		for i, e := range t {
			ev, err := FromGo(e)
			if err != nil {
				return Value{}, err
			}
			elems[i] = ev
		}
		return NewArray(elems...), nil
	case map[string]string:
		m := make(map[string]Value, len(t))
		for k, s := range t {
			sv, err := NewString(s)
			if err != nil {
				return Value{}, err
			}
			m[k] = sv
		}
		return NewObject(m)
	case map[string]any:
		m := make(map[string]Value, len(t))
		for k, e := range t {
			ev, err := FromGo(e)
			if err != nil {
				return Value{}, fmt.Errorf("%q: %w", k, err)
			}
			m[k] = ev
		}
		return NewObject(m)
	}
	return Value{}, fmt.Errorf("canonjson: cannot convert %T", x)
}
