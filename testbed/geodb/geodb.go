// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package geodb writes MaxMind-format databases (the layout of GeoLite2 City
// and ASN, which DB-IP Lite City and ASN share) for tests and benchmarks,
// from a table of places: no downloaded database is ever used. World is
// the simulator's map: the offices, VPN exits, homes and far-away places
// of the detection scenario, on the address ranges reserved for
// documentation (RFC 5737, RFC 3849), which no real database locates.
package geodb // import "github.com/kyra-mdr/otelcol-gitlab/testbed/geodb"

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Place is a network and where a GeoIP database puts it.
type Place struct {
	// Name identifies the place in the simulator ("berlin-office").
	Name    string
	Network netip.Prefix
	// Country is the ISO 3166-1 alpha-2 code, City the English name.
	Country, City string
	Lat, Lon      float64
	ASN           uint32
	ASOrg         string
}

// Addr returns the n-th address of the place's network (n from 1).
func (p Place) Addr(n int) netip.Addr {
	a := p.Network.Addr()
	for i := 0; i < n; i++ {
		a = a.Next()
	}
	if !p.Network.Contains(a) {
		panic(fmt.Sprintf("geodb: address %d is outside %s", n, p.Network))
	}
	return a
}

// World is the map of the simulator's scenario and of the tests.
var World = []Place{
	{Name: "berlin-office", Network: netip.MustParsePrefix("198.51.100.0/28"), Country: "DE", City: "Berlin", Lat: 52.5200, Lon: 13.4050, ASN: 3320, ASOrg: "Deutsche Telekom AG"},
	{Name: "london-office", Network: netip.MustParsePrefix("198.51.100.16/28"), Country: "GB", City: "London", Lat: 51.5072, Lon: -0.1276, ASN: 5089, ASOrg: "Virgin Media Limited"},
	{Name: "berlin-home", Network: netip.MustParsePrefix("198.51.100.32/28"), Country: "DE", City: "Berlin", Lat: 52.5200, Lon: 13.4050, ASN: 6805, ASOrg: "Telefonica Germany"},
	{Name: "hamburg-home", Network: netip.MustParsePrefix("198.51.100.48/28"), Country: "DE", City: "Hamburg", Lat: 53.5511, Lon: 9.9937, ASN: 3209, ASOrg: "Vodafone GmbH"},
	{Name: "vpn-frankfurt", Network: netip.MustParsePrefix("198.51.100.64/28"), Country: "DE", City: "Frankfurt am Main", Lat: 50.1109, Lon: 8.6821, ASN: 9009, ASOrg: "M247 Europe SRL"},
	{Name: "vpn-amsterdam", Network: netip.MustParsePrefix("198.51.100.80/28"), Country: "NL", City: "Amsterdam", Lat: 52.3676, Lon: 4.9041, ASN: 9009, ASOrg: "M247 Europe SRL"},
	{Name: "vpn-zurich", Network: netip.MustParsePrefix("198.51.100.96/28"), Country: "CH", City: "Zurich", Lat: 47.3769, Lon: 8.5417, ASN: 9009, ASOrg: "M247 Europe SRL"},
	{Name: "vpn-stockholm", Network: netip.MustParsePrefix("198.51.100.112/28"), Country: "SE", City: "Stockholm", Lat: 59.3293, Lon: 18.0686, ASN: 9009, ASOrg: "M247 Europe SRL"},
	{Name: "new-york", Network: netip.MustParsePrefix("192.0.2.0/28"), Country: "US", City: "New York", Lat: 40.7128, Lon: -74.0060, ASN: 7922, ASOrg: "Comcast Cable Communications, LLC"},
	{Name: "lisbon", Network: netip.MustParsePrefix("192.0.2.16/28"), Country: "PT", City: "Lisbon", Lat: 38.7223, Lon: -9.1393, ASN: 3243, ASOrg: "MEO - Servicos de Comunicacoes e Multimedia S.A."},
	{Name: "sao-paulo", Network: netip.MustParsePrefix("203.0.113.0/28"), Country: "BR", City: "São Paulo", Lat: -23.5505, Lon: -46.6333, ASN: 28573, ASOrg: "Claro NXT Telecomunicacoes Ltda"},
	{Name: "singapore", Network: netip.MustParsePrefix("203.0.113.16/28"), Country: "SG", City: "Singapore", Lat: 1.3521, Lon: 103.8198, ASN: 45102, ASOrg: "Alibaba US Technology Co., Ltd."},
	{Name: "lagos", Network: netip.MustParsePrefix("203.0.113.64/28"), Country: "NG", City: "Lagos", Lat: 6.5244, Lon: 3.3792, ASN: 37148, ASOrg: "Globacom Limited"},
	{Name: "bucharest-vps", Network: netip.MustParsePrefix("2001:db8:66::/48"), Country: "RO", City: "Bucharest", Lat: 44.4268, Lon: 26.1025, ASN: 9009, ASOrg: "M247 Europe SRL"},
}

// Named returns the place of World with that name.
func Named(name string) Place {
	for _, p := range World {
		if p.Name == name {
			return p
		}
	}
	panic("geodb: no place named " + name)
}

// Write writes a database holding the places, in the layout of GeoLite2
// City and ASN in one file (country.iso_code, city.names.en,
// location.latitude/longitude, autonomous_system_number and
// autonomous_system_organization), and returns its path.
func Write(dir, name string, places []Place) (string, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "KYRA-Test-City-ASN",
		Description:             map[string]string{"en": "generated for tests from testbed/geodb"},
		IncludeReservedNetworks: true, // the documentation ranges
		RecordSize:              24,
	})
	if err != nil {
		return "", err
	}
	for _, p := range places {
		rec := mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String(p.Country)},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(p.Lat), "longitude": mmdbtype.Float64(p.Lon)},
		}
		if p.City != "" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(p.City)}}
		}
		if p.ASN != 0 {
			rec["autonomous_system_number"] = mmdbtype.Uint32(p.ASN)
			rec["autonomous_system_organization"] = mmdbtype.String(p.ASOrg)
		}
		n := &net.IPNet{IP: p.Network.Addr().AsSlice(), Mask: net.CIDRMask(p.Network.Bits(), p.Network.Addr().BitLen())}
		if err := tree.Insert(n, rec); err != nil {
			return "", fmt.Errorf("geodb: %s (%s): %w", p.Name, p.Network, err)
		}
	}
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	if _, err := tree.WriteTo(f); err != nil {
		_ = f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	// Replace in one step, as database updaters do.
	return path, os.Rename(tmp, path)
}
