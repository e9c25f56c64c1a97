//go:build !hogtailpoison

package event

const poisonReleased = false
