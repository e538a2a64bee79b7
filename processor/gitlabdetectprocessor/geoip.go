// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// GeoIP: where client addresses are. GitLab's audit events carry only the
// client's IP address; with MaxMind-format databases (GeoLite2 or DB-IP
// Lite, City and ASN editions) the processor adds the country, the
// coordinates and the network of every public address before the rules
// run, and the geo rules (GLD-104 to GLD-106, geo.go) compare them with
// each user's usual places. The contrib geoip processor is not served at
// v0.165.0; docs/architecture.md says why this lives in gitlab_detect.

// GeoIPConfig configures the address lookups and the geo rules.
type GeoIPConfig struct {
	// Databases are MaxMind DB files (.mmdb): a City database (country,
	// city, coordinates) and an ASN database (network), or one that holds
	// both. Each address is looked up in each; the first that knows a
	// field gives it. Empty: no lookups, and the geo rules are off.
	Databases []string `mapstructure:"databases"`
	// CheckInterval is how often the files are checked; a file whose size
	// or modification time changed is read again (a database updater
	// replaces it in place).
	CheckInterval time.Duration `mapstructure:"check_interval"`
	// ImpossibleTravel configures GLD-105.
	ImpossibleTravel ImpossibleTravelConfig `mapstructure:"impossible_travel"`
	// MaxPlacesPerUser bounds the places remembered per user (the least
	// recently seen is forgotten first).
	MaxPlacesPerUser int `mapstructure:"max_places_per_user"`
	// SharedPlaceUsers makes a place the organisation's (an office, a
	// company VPN exit) when the events of at least this many users came
	// from it within baseline.days: a jump there is kept at LOW.
	SharedPlaceUsers int `mapstructure:"shared_place_users"`
}

// ImpossibleTravelConfig configures GLD-105.
type ImpossibleTravelConfig struct {
	// MaxSpeedKMH is the highest plausible speed between two sign-ins.
	MaxSpeedKMH float64 `mapstructure:"max_speed_kmh"`
	// MinDistanceKM ignores shorter jumps: a GeoIP location is accurate to
	// tens or hundreds of kilometres.
	MinDistanceKM float64 `mapstructure:"min_distance_km"`
}

func (g GeoIPConfig) enabled() bool { return len(g.Databases) > 0 }

func (g GeoIPConfig) validate() []error {
	var errs []error
	for i, p := range g.Databases {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, fmt.Errorf("geoip::databases::%d: must not be empty", i))
		}
	}
	if g.CheckInterval <= 0 {
		errs = append(errs, fmt.Errorf("geoip::check_interval: must be positive, got %s", g.CheckInterval))
	}
	if g.ImpossibleTravel.MaxSpeedKMH <= 0 {
		errs = append(errs, fmt.Errorf("geoip::impossible_travel::max_speed_kmh: must be positive, got %g", g.ImpossibleTravel.MaxSpeedKMH))
	}
	if g.ImpossibleTravel.MinDistanceKM < 0 {
		errs = append(errs, fmt.Errorf("geoip::impossible_travel::min_distance_km: must not be negative, got %g", g.ImpossibleTravel.MinDistanceKM))
	}
	if g.MaxPlacesPerUser < 1 {
		errs = append(errs, fmt.Errorf("geoip::max_places_per_user: must be at least 1, got %d", g.MaxPlacesPerUser))
	}
	if g.SharedPlaceUsers < 2 {
		errs = append(errs, fmt.Errorf("geoip::shared_place_users: must be at least 2, got %d", g.SharedPlaceUsers))
	}
	return errs
}

// The attributes the lookups write (internal/auditevent/attrs.go).
const (
	attrGeoCountry  = auditevent.AttrClientGeoCountryISOCode
	attrGeoLocality = auditevent.AttrClientGeoLocalityName
	attrGeoLat      = auditevent.AttrClientGeoLocationLat
	attrGeoLon      = auditevent.AttrClientGeoLocationLon
	attrASNumber    = auditevent.AttrClientASNumber
	attrASOrg       = auditevent.AttrClientASOrganizationName
)

// geoRecord is what is read from a database: the fields of GeoIP2/GeoLite2
// City (and DB-IP City Lite, which uses the same layout) and of the ASN
// editions. Only the English city name is decoded.
type geoRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	City struct {
		Names struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
	ASN   uint32 `maxminddb:"autonomous_system_number"`
	ASOrg string `maxminddb:"autonomous_system_organization"`
}

// geoInfo is what is known about one address.
type geoInfo struct {
	country, city string
	lat, lon      float64
	hasLocation   bool
	asn           int64
	asOrg         string
}

func (g geoInfo) known() bool { return g.country != "" || g.hasLocation || g.asn != 0 }

// geoFile is one database file and the reader of its current content.
type geoFile struct {
	path   string
	size   int64
	mtime  time.Time
	reader *maxminddb.Reader
}

// geoDB holds the databases and reloads them when they change. Lookups
// read an immutable snapshot, so a reload never disturbs them: the old
// content is kept in memory (read with os.ReadFile, not mapped) until the
// last lookup that uses it ends.
type geoDB struct {
	logger   *zap.Logger
	interval time.Duration

	current atomic.Pointer[[]*maxminddb.Reader]

	// cache remembers the answers for recent addresses (most events come
	// from a few addresses); emptied when full and at every reload.
	cacheMu sync.Mutex
	cache   map[netip.Addr]geoInfo

	mu     sync.Mutex // guards files during reloads
	files  []geoFile
	warned map[string]string // path -> last problem reported

	stop chan struct{}
	done chan struct{}
}

func newGeoDB(cfg GeoIPConfig, logger *zap.Logger) *geoDB {
	g := &geoDB{logger: logger, interval: cfg.CheckInterval, warned: map[string]string{}}
	for _, p := range cfg.Databases {
		g.files = append(g.files, geoFile{path: p})
	}
	empty := []*maxminddb.Reader{}
	g.current.Store(&empty)
	return g
}

// start reads the databases and watches them until shutdown. A database
// that cannot be read is reported once (warning) and looked for again at
// every check; the others serve meanwhile.
func (g *geoDB) start() {
	g.reload()
	g.stop = make(chan struct{})
	g.done = make(chan struct{})
	go func() {
		defer close(g.done)
		t := time.NewTicker(g.interval)
		defer t.Stop()
		for {
			select {
			case <-g.stop:
				return
			case <-t.C:
				g.reload()
			}
		}
	}()
}

func (g *geoDB) shutdown() {
	if g.stop == nil {
		return
	}
	close(g.stop)
	<-g.done
	g.stop = nil
}

// reload reads every file whose size or modification time changed.
func (g *geoDB) reload() {
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := false
	for i := range g.files {
		f := &g.files[i]
		st, err := os.Stat(f.path)
		if err != nil {
			g.warn(f.path, "Cannot read the GeoIP database; addresses are not located with it until it can be read.", err)
			continue
		}
		if f.reader != nil && st.Size() == f.size && st.ModTime().Equal(f.mtime) {
			continue
		}
		raw, err := os.ReadFile(f.path)
		if err != nil {
			g.warn(f.path, "Cannot read the GeoIP database; addresses are not located with it until it can be read.", err)
			continue
		}
		r, err := maxminddb.OpenBytes(raw)
		if err != nil {
			what := "The GeoIP database is not a MaxMind DB file; it is not used until it is replaced."
			if f.reader != nil {
				what = "The changed GeoIP database is not a MaxMind DB file; the previous content stays in use."
			}
			g.warn(f.path, what, err)
			// Do not read it again before it changes.
			f.size, f.mtime = st.Size(), st.ModTime()
			continue
		}
		reloaded := f.reader != nil
		f.reader, f.size, f.mtime = r, st.Size(), st.ModTime()
		delete(g.warned, f.path)
		changed = true
		msg := "GeoIP database loaded"
		if reloaded {
			msg = "GeoIP database changed; reloaded"
		}
		g.logger.Info(msg, zap.String("path", f.path), zap.String("type", r.Metadata.DatabaseType),
			zap.Time("build_time", r.Metadata.BuildTime()))
	}
	if !changed {
		return
	}
	readers := make([]*maxminddb.Reader, 0, len(g.files))
	for _, f := range g.files {
		if f.reader != nil {
			readers = append(readers, f.reader)
		}
	}
	g.cacheMu.Lock()
	g.current.Store(&readers)
	g.cache = nil
	g.cacheMu.Unlock()
}

// geoCacheSize bounds the cache of answers: 8,192 addresses, about 1 MB.
const geoCacheSize = 8192

// warn logs a problem of a file once, until it changes.
func (g *geoDB) warn(path, msg string, err error) {
	if g.warned[path] == err.Error() {
		return
	}
	g.warned[path] = err.Error()
	g.logger.Warn(msg, zap.String("path", path), zap.Error(err))
}

// lookup returns what the databases know about an address.
func (g *geoDB) lookup(addr netip.Addr) geoInfo {
	g.cacheMu.Lock()
	if info, ok := g.cache[addr]; ok {
		g.cacheMu.Unlock()
		return info
	}
	readers := g.current.Load()
	g.cacheMu.Unlock()
	info := lookupIn(*readers, addr)
	g.cacheMu.Lock()
	// Only when no reload happened meanwhile.
	if g.current.Load() == readers {
		if g.cache == nil || len(g.cache) >= geoCacheSize {
			g.cache = make(map[netip.Addr]geoInfo, 256)
		}
		g.cache[addr] = info
	}
	g.cacheMu.Unlock()
	return info
}

func lookupIn(readers []*maxminddb.Reader, addr netip.Addr) geoInfo {
	var out geoInfo
	for _, r := range readers {
		var rec geoRecord
		if err := r.Lookup(addr).Decode(&rec); err != nil {
			continue
		}
		if out.country == "" {
			out.country = rec.Country.ISOCode
		}
		if out.city == "" {
			out.city = rec.City.Names.EN
		}
		if !out.hasLocation && rec.Location.Latitude != nil && rec.Location.Longitude != nil {
			out.lat, out.lon, out.hasLocation = *rec.Location.Latitude, *rec.Location.Longitude, true
		}
		if out.asn == 0 && rec.ASN != 0 {
			out.asn, out.asOrg = int64(rec.ASN), rec.ASOrg
		}
	}
	return out
}

// locatable parses a client address that can be located: a valid, public
// address. Private, loopback, link-local, multicast, unspecified and
// carrier-grade NAT (100.64.0.0/10) addresses are not.
func locatable(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	switch {
	case a.IsPrivate(), a.IsLoopback(), a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(),
		a.IsMulticast(), a.IsUnspecified(), a.IsInterfaceLocalMulticast(), cgnat.Contains(a):
		return netip.Addr{}, false
	}
	return a, true
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// annotate locates the record's client address and writes what the
// databases know as attributes.
func (g *geoDB) annotate(e *event) {
	addr, ok := locatable(e.str(fieldClientAddress))
	if !ok {
		return
	}
	info := g.lookup(addr)
	if !info.known() {
		return
	}
	putGeo(e.attrs, info)
}

func putGeo(attrs pcommon.Map, info geoInfo) {
	if info.country != "" {
		attrs.PutStr(attrGeoCountry, info.country)
	}
	if info.city != "" {
		attrs.PutStr(attrGeoLocality, info.city)
	}
	if info.hasLocation {
		attrs.PutDouble(attrGeoLat, info.lat)
		attrs.PutDouble(attrGeoLon, info.lon)
	}
	if info.asn != 0 {
		attrs.PutInt(attrASNumber, info.asn)
		if info.asOrg != "" {
			attrs.PutStr(attrASOrg, info.asOrg)
		}
	}
}

// geoOf reads the location attributes of a record (written by annotate,
// or by another GeoIP step before this processor).
func geoOf(attrs pcommon.Map) geoInfo {
	var g geoInfo
	if v, ok := attrs.Get(attrGeoCountry); ok {
		g.country = strings.ToUpper(v.AsString())
	}
	if v, ok := attrs.Get(attrGeoLocality); ok {
		g.city = v.AsString()
	}
	lat, okLat := attrs.Get(attrGeoLat)
	lon, okLon := attrs.Get(attrGeoLon)
	if okLat && okLon && lat.Type() == pcommon.ValueTypeDouble && lon.Type() == pcommon.ValueTypeDouble {
		g.lat, g.lon, g.hasLocation = lat.Double(), lon.Double(), true
	}
	if v, ok := attrs.Get(attrASNumber); ok {
		if n, ok := parseInt(v); ok {
			g.asn = n
		}
	}
	if v, ok := attrs.Get(attrASOrg); ok {
		g.asOrg = v.AsString()
	}
	return g
}
