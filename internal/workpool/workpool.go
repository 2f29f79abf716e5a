// Package workpool runs a function over the index range [0, n) on several
// goroutines, in chunks taken in increasing order, and stops early at the
// first error.
package workpool

import (
	"sync"
	"sync/atomic"
)

// Run calls fn(worker, lo, hi) for consecutive chunks [lo, hi) of at most
// chunk indexes covering [0, n), on workers goroutines (at least one).
// Chunks are handed out in increasing order of lo, so a chunk starting at
// lo is only taken once every chunk before it was taken. worker is the
// goroutine's number, in [0, workers). After the first error no new chunk
// is started and Run returns that error once all calls have returned.
func Run(workers, n, chunk int, fn func(worker, lo, hi int) error) error {
	workers, chunk = max(workers, 1), max(chunk, 1)
	if n <= 0 {
		return nil
	}
	if workers == 1 || n <= chunk {
		for lo := 0; lo < n; lo += chunk {
			if err := fn(0, lo, min(lo+chunk, n)); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next  atomic.Int64
		first atomic.Pointer[error]
		wg    sync.WaitGroup
	)
	for w := range min(workers, (n+chunk-1)/chunk) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first.Load() == nil {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= n {
					return
				}
				if err := fn(w, lo, min(lo+chunk, n)); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}
