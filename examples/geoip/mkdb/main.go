// Command mkdb writes examples/geoip/fake-city.mmdb, the fake GeoIP
// database the GeoIP example in config.example.toml uses:
//
//	go run ./examples/geoip/mkdb examples/geoip/fake-city.mmdb
package main

import (
	"fmt"
	"os"

	"github.com/hogtail/hogtail/examples/geoip"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkdb OUTPUT.mmdb")
		os.Exit(2)
	}
	if err := geoip.Write(os.Args[1], geoip.ExampleCities); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
