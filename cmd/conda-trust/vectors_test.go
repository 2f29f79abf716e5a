package main

import "github.com/condatrust/condatrust/internal/testvectors"

// vectorsDir is handed to scripts as $VECTORS; scripts that need the
// shared vectors start with [!exists $VECTORS] skip.
func vectorsDir() string {
	d, _ := testvectors.Find()
	return d
}
