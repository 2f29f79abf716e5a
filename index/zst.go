package index

import (
	"bufio"
	"bytes"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstdLevel is the compression level of the .zst copies. conda-index uses
// zstd level 16. On a 5.4 MB repodata.json, klauspost/compress's
// SpeedBetterCompression gives a file 4% larger than the zstd CLI at level
// 16 in a twelfth of the time, and its SpeedBestCompression is both larger
// and 4 times slower (docs/performance-index.md).
const zstdLevel = zstd.SpeedBetterCompression

var (
	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
	zstdEncErr  error
	zstdEncMu   sync.Mutex
)

// compressZst returns data as one zstd frame with a content checksum.
func compressZst(data []byte) ([]byte, error) {
	zstdEncOnce.Do(func() {
		zstdEnc, zstdEncErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstdLevel),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithEncoderCRC(true))
	})
	if zstdEncErr != nil {
		return nil, zstdEncErr
	}
	zstdEncMu.Lock()
	defer zstdEncMu.Unlock()
	var buf bytes.Buffer
	buf.Grow(len(data)/4 + 64)
	zstdEnc.Reset(&buf)
	if _, err := zstdEnc.Write(data); err != nil {
		return nil, err
	}
	if err := zstdEnc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// zstMatches reports whether f decompresses to exactly want. It compares
// as it decompresses, so a wrong or hostile file costs no more than
// len(want) bytes of work and the decoder's window.
func zstMatches(f io.Reader, want []byte) bool {
	dec, err := zstd.NewReader(bufio.NewReader(f), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return false
	}
	defer dec.Close()
	buf := make([]byte, 256<<10)
	for {
		n, err := io.ReadFull(dec, buf[:min(len(buf), len(want)+1)])
		if n > len(want) || !bytes.Equal(buf[:n], want[:n]) {
			return false
		}
		want = want[n:]
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return len(want) == 0
		case err != nil:
			return false
		}
	}
}
