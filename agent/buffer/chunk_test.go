package buffer

import (
	"bytes"
	"testing"
)

// TestChunkRoundTrip covers compressible, incompressible, empty and
// single-record chunks, and damage detection.
func TestChunkRoundTrip(t *testing.T) {
	same := make([]byte, 300)
	for i := range same {
		same[i] = 'a' + byte(i%26)
	}
	cases := map[string][][]byte{
		"compressible":   repeat(same, 1000),
		"incompressible": {randomBytes(5000), randomBytes(10)},
		"empty record":   {{}, []byte("x")},
		"one":            {[]byte(`{"event":"e"}`)},
	}
	pool := newChunkPool()
	for name, recs := range cases {
		t.Run(name, func(t *testing.T) {
			for round := 0; round < 2; round++ { // second round reuses pooled buffers
				c := encodeChunk(pool, recs, 42)
				got, err := decodeChunk(c)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(recs) || chunkCount(c) != len(recs) || chunkTime(c) != 42 {
					t.Fatalf("got %d records (count %d, time %d)", len(got), chunkCount(c), chunkTime(c))
				}
				for i := range recs {
					if !bytes.Equal(got[i], recs[i]) {
						t.Fatalf("record %d differs", i)
					}
				}
				for _, at := range []int{0, 5, len(c) - 1} {
					bad := append([]byte(nil), c...)
					bad[at] ^= 0x40
					if _, err := decodeChunk(bad); err == nil {
						t.Fatalf("damage at byte %d not detected", at)
					}
				}
				pool.put(c)
			}
		})
	}
	c := encodeChunk(nil, repeat(same, 1000), 1)
	if len(c) > 20000 {
		t.Fatalf("1000 repetitive records take %d bytes: not compressed", len(c))
	}
}

func repeat(r []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = r
	}
	return out
}
