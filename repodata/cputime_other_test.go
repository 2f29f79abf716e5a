//go:build !unix

package repodata

func processCPU() int64 { return 0 }
