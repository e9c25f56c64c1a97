// Package geoip builds small MaxMind City databases (.mmdb) of fake data,
// for hogtail's GeoIP example and tests. Nothing here is real location
// data: the example networks are the documentation ranges of RFC 5737 and
// RFC 3849, which never appear on the internet.
package geoip

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// City is the record of one network, with the fields a GeoLite2-City
// record has that PostHog's GeoIP plugin reads.
type City struct {
	Network        string // CIDR, e.g. "192.0.2.0/24"
	City           string
	PostalCode     string
	CountryCode    string
	CountryName    string
	ContinentCode  string
	ContinentName  string
	Latitude       float64
	Longitude      float64
	AccuracyRadius int
	TimeZone       string
	Subdivisions   []Subdivision
}

// Subdivision is a state, province or region, most general first.
type Subdivision struct {
	Code, Name string
}

// ExampleCities is the fake data of examples/geoip/fake-city.mmdb.
var ExampleCities = []City{
	{Network: "192.0.2.0/24", City: "Fakeville", PostalCode: "00001", CountryCode: "GB", CountryName: "United Kingdom",
		ContinentCode: "EU", ContinentName: "Europe", Latitude: 51.5, Longitude: -0.12, AccuracyRadius: 10,
		TimeZone: "Europe/London", Subdivisions: []Subdivision{{Code: "ENG", Name: "England"}}},
	{Network: "198.51.100.0/24", City: "Testburg", PostalCode: "10115", CountryCode: "DE", CountryName: "Germany",
		ContinentCode: "EU", ContinentName: "Europe", Latitude: 52.52, Longitude: 13.4, AccuracyRadius: 20,
		TimeZone: "Europe/Berlin", Subdivisions: []Subdivision{{Code: "BE", Name: "Land Berlin"}}},
	{Network: "203.0.113.0/24", City: "Sample Bay", PostalCode: "2000", CountryCode: "AU", CountryName: "Australia",
		ContinentCode: "OC", ContinentName: "Oceania", Latitude: -33.87, Longitude: 151.21, AccuracyRadius: 50,
		TimeZone: "Australia/Sydney", Subdivisions: []Subdivision{{Code: "NSW", Name: "New South Wales"}}},
	{Network: "2001:db8::/32", City: "Exampleton", PostalCode: "94107", CountryCode: "US", CountryName: "United States",
		ContinentCode: "NA", ContinentName: "North America", Latitude: 37.77, Longitude: -122.39, AccuracyRadius: 100,
		TimeZone: "America/Los_Angeles", Subdivisions: []Subdivision{{Code: "CA", Name: "California"}}},
}

func names(en string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(en)}
}

func (c City) record() mmdbtype.Map {
	subs := mmdbtype.Slice{}
	for _, s := range c.Subdivisions {
		subs = append(subs, mmdbtype.Map{"iso_code": mmdbtype.String(s.Code), "names": names(s.Name)})
	}
	rec := mmdbtype.Map{
		"continent":          mmdbtype.Map{"code": mmdbtype.String(c.ContinentCode), "names": names(c.ContinentName)},
		"country":            mmdbtype.Map{"iso_code": mmdbtype.String(c.CountryCode), "names": names(c.CountryName)},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(c.CountryCode), "names": names(c.CountryName)},
		"location": mmdbtype.Map{
			"accuracy_radius": mmdbtype.Uint16(c.AccuracyRadius),
			"latitude":        mmdbtype.Float64(c.Latitude),
			"longitude":       mmdbtype.Float64(c.Longitude),
			"time_zone":       mmdbtype.String(c.TimeZone),
		},
	}
	if c.City != "" {
		rec["city"] = mmdbtype.Map{"names": names(c.City)}
	}
	if c.PostalCode != "" {
		rec["postal"] = mmdbtype.Map{"code": mmdbtype.String(c.PostalCode)}
	}
	if len(subs) > 0 {
		rec["subdivisions"] = subs
	}
	return rec
}

// Build returns a GeoLite2-City shaped database holding cities. The output
// depends only on cities (fixed build time), so it can be compared with a
// committed file.
func Build(cities []City) ([]byte, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-City",
		Description:             map[string]string{"en": "hogtail fake GeoIP data (documentation ranges only)"},
		Languages:               []string{"en"},
		RecordSize:              28,
		BuildEpoch:              1700000000,
		IncludeReservedNetworks: true, // the documentation ranges are reserved
	})
	if err != nil {
		return nil, fmt.Errorf("geoip: %w", err)
	}
	for _, c := range cities {
		_, network, err := net.ParseCIDR(c.Network)
		if err != nil {
			return nil, fmt.Errorf("geoip: network %q: %w", c.Network, err)
		}
		if err := tree.Insert(network, c.record()); err != nil {
			return nil, fmt.Errorf("geoip: inserting %s: %w", c.Network, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("geoip: writing: %w", err)
	}
	return buf.Bytes(), nil
}

// Write builds the database and puts it at path the way geoipupdate does:
// written to a temporary file in the same folder, then renamed over path.
func Write(path string, cities []City) error {
	data, err := Build(cities)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".geoip-*.tmp")
	if err != nil {
		return fmt.Errorf("geoip: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("geoip: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("geoip: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("geoip: writing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("geoip: %w", err)
	}
	return nil
}
