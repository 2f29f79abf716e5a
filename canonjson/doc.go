// Package canonjson implements the canonical JSON form that conda content
// trust signs: the bytes of Python's
//
//	json.dumps(obj, indent=2, sort_keys=True)
//
// applied to the value json.loads parsed, with every other argument at its
// default. That is:
//
//   - object members sorted by Unicode code point of the key, each on its own
//     line, indented two spaces per level, "," ending a member line and ": "
//     between key and value; "{}" and "[]" for empty containers;
//   - strings in pure ASCII: "\"", "\\", "\n", "\r", "\t", "\b", "\f", other
//     control characters, U+007F and every non-ASCII character as \uXXXX
//     with lowercase hex, characters above U+FFFF as surrogate pairs; "/"
//     and "<>&" are not escaped;
//   - integers exact, of any size (never through float64), "-0" as "0";
//     numbers with a fraction or exponent as Python's float repr ("1.0",
//     "1e-05", "1e+16");
//   - duplicate keys resolved as Python does (the last one wins);
//   - no trailing newline.
//
// # Parsing
//
// [Parse] is strict: what Python would silently accept but cannot be
// signed reproducibly (NaN, Infinity, overflowing floats, lone surrogate
// escapes) and what Go would silently repair (invalid UTF-8) are
// [*SyntaxError]s with a line and column. The parsed [Value] is the single
// source of truth: the value that is canonicalized and verified is the one a
// caller reads, so a duplicate key cannot make verifier and consumer see
// different data.
//
// # Large documents
//
// [ForEachMember] walks an object without building it and yields each
// member's raw bytes; a repodata.json of hundreds of thousands of records
// is processed one record at a time with [Parse] and [AppendIndent].
package canonjson
