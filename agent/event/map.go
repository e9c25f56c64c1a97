package event

// Field is one key/value pair of a Map.
type Field struct {
	Key   string
	Value any
}

// Map is a JSON object that keeps its keys in insertion order.
//
// PostHog plugins observe key order (Object.keys, for-in, JSON.stringify; some
// hash the properties), so properties must leave hogtail in the order they came
// in. A slice with linear lookup beats a map plus key slice for the small objects
// events carry (tens of keys) and costs one allocation.
//
// Values are nil, bool, int64, float64, string, Map or []any.
type Map []Field

// Get returns the value stored under key.
func (m Map) Get(key string) (any, bool) {
	for i := range m {
		if m[i].Key == key {
			return m[i].Value, true
		}
	}
	return nil, false
}

// GetString returns the value under key when it is a string.
func (m Map) GetString(key string) (string, bool) {
	v, ok := m.Get(key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// Set replaces the value under key in place, or appends the key at the end.
func (m *Map) Set(key string, value any) {
	for i := range *m {
		if (*m)[i].Key == key {
			(*m)[i].Value = value
			return
		}
	}
	*m = append(*m, Field{Key: key, Value: value})
}

// Delete removes key, keeping the order of the others.
func (m *Map) Delete(key string) {
	for i := range *m {
		if (*m)[i].Key == key {
			*m = append((*m)[:i], (*m)[i+1:]...)
			return
		}
	}
}

// Clone returns a deep copy.
func (m Map) Clone() Map {
	if m == nil {
		return nil
	}
	out := make(Map, len(m))
	for i, f := range m {
		out[i] = Field{Key: f.Key, Value: cloneValue(f.Value)}
	}
	return out
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case Map:
		return t.Clone()
	case []any:
		out := make([]any, len(t))
		for i := range t {
			out[i] = cloneValue(t[i])
		}
		return out
	default:
		return v
	}
}
