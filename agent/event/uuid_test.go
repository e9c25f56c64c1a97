package event

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestAppendUUIDv7s(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	b, _ := AppendUUIDv7s(nil, 5000, now, nil)
	seen := map[string]bool{}
	for i := 0; i < 5000; i++ {
		s := string(b[i*36 : (i+1)*36])
		u, err := uuid.Parse(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d variant %v", s, u.Version(), u.Variant())
		}
		if sec, nsec := u.Time().UnixTime(); sec*1000+nsec/1e6 != now.UnixMilli() {
			t.Fatalf("%s carries time %d.%d", s, sec, nsec)
		}
		if seen[s] {
			t.Fatalf("duplicate %s", s)
		}
		seen[s] = true
	}
}

func TestUUIDPool(t *testing.T) {
	var p UUIDPool
	seen := map[string]bool{}
	for i := 0; i < 3*uuidBlock+7; i++ {
		id := p.Next()
		if _, err := uuid.Parse(id); err != nil || seen[id] {
			t.Fatalf("id %d %q: %v (seen before: %v)", i, id, err, seen[id])
		}
		seen[id] = true
	}
}

func BenchmarkUUID(b *testing.B) {
	b.Run("NewUUID", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = NewUUID()
		}
	})
	b.Run("UUIDPool", func(b *testing.B) {
		var p UUIDPool
		for i := 0; i < b.N; i++ {
			_ = p.Next()
		}
	})
}
