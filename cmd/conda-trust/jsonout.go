package main

// nonNil returns s, or an empty slice when s is nil, so that an empty list
// is [] and not null in --json output.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
