package proxy

import (
	"context"
	"os"
)

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }
