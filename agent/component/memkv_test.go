package component

import "testing"

func TestMemoryKV(t *testing.T) {
	kv := NewMemoryKV()
	v := []byte("one")
	if err := kv.Set("k", v); err != nil {
		t.Fatal(err)
	}
	v[0] = 'X' // the store keeps its own copy
	if got, ok, err := kv.Get("k"); err != nil || !ok || string(got) != "one" {
		t.Fatalf("Get = %q %v %v, want one", got, ok, err)
	}
	if err := kv.Delete("k"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := kv.Get("k"); err != nil || ok {
		t.Fatalf("after Delete: found %v, err %v", ok, err)
	}
}
