package component_test

import (
	"testing"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
)

func TestCheckListenAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want []string // substrings of the error; none: valid
	}{
		{"127.0.0.1:8010", nil},
		{":0", nil},
		{"[::1]:514", nil},
		{"localhost:http", nil},
		{"8010", []string{"must be host:port"}},
		{":abc", []string{`port "abc"`, "service name"}},
		{":99999", []string{`port "99999"`}},
		{"127.0.0.1:-1", []string{`port "-1"`}},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			componenttest.CheckError(t, component.CheckListenAddress("tcp", tc.addr), tc.want...)
		})
	}
}
