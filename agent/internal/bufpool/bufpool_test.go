package bufpool

import (
	"runtime"
	"sync"
	"testing"
)

func TestGetPut(t *testing.T) {
	p := &Pool{Max: 2, MaxCap: 1 << 20}
	a := p.Get(100)
	if len(a) != 0 || cap(a) < 100 {
		t.Fatalf("Get(100): len %d cap %d", len(a), cap(a))
	}
	a = append(a, "hello"...)
	p.Put(a)
	runtime.GC() // unlike sync.Pool, a collection keeps the buffer
	b := p.Get(50)
	if cap(b) != cap(a) || len(b) != 0 {
		t.Fatalf("Get(50) after Put: cap %d, want the pooled %d", cap(b), cap(a))
	}
	if c := p.Get(50); cap(c) == cap(a) && &c[:1][0] == &a[:1][0] {
		t.Fatal("the same buffer was handed out twice")
	}

	// Too small buffers are not handed out for a larger size.
	p.Put(make([]byte, 0, 10))
	if d := p.Get(1000); cap(d) < 1000 {
		t.Fatalf("Get(1000) = cap %d", cap(d))
	}
	// Huge buffers are not kept.
	p.Put(make([]byte, 0, 2<<20))
	for _, f := range p.free {
		if cap(f) > p.MaxCap {
			t.Fatalf("kept a buffer of %d bytes", cap(f))
		}
	}
	// When full, a larger buffer replaces the smallest.
	p = &Pool{Max: 2, MaxCap: 1 << 20}
	p.Put(make([]byte, 0, 10))
	p.Put(make([]byte, 0, 20))
	p.Put(make([]byte, 0, 30))
	if len(p.free) != 2 || cap(p.free[0])+cap(p.free[1]) != 50 {
		t.Fatalf("free caps after overflow: %d, %d", cap(p.free[0]), cap(p.free[1]))
	}
}

func TestConcurrent(t *testing.T) {
	p := &Pool{Max: 4, MaxCap: 1 << 20}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				b := p.Get(64)
				b = append(b, byte(g))
				if len(b) != 1 || b[0] != byte(g) {
					t.Errorf("buffer shared between goroutines")
					return
				}
				p.Put(b)
			}
		}(g)
	}
	wg.Wait()
}
