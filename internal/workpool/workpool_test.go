package workpool

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestRunCoversEveryIndexOnce(t *testing.T) {
	for _, tc := range []struct{ workers, n, chunk int }{{1, 10, 3}, {4, 1000, 7}, {8, 5, 64}, {3, 0, 4}, {0, 9, 0}} {
		seen := make([]atomic.Int32, tc.n)
		err := Run(tc.workers, tc.n, tc.chunk, func(w, lo, hi int) error {
			if w < 0 || w >= max(tc.workers, 1) || lo >= hi || hi > tc.n {
				t.Errorf("%+v: call (%d, %d, %d)", tc, w, lo, hi)
			}
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range seen {
			if seen[i].Load() != 1 {
				t.Fatalf("%+v: index %d seen %d times", tc, i, seen[i].Load())
			}
		}
	}
}

func TestRunStopsAtFirstError(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int32
	err := Run(4, 1_000_000, 1, func(w, lo, hi int) error {
		calls.Add(1)
		if lo == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if c := calls.Load(); c > 1000 {
		t.Fatalf("%d calls after the error: it did not stop", c)
	}
}
