// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"container/list"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// The geo rules GLD-104 (sign-in from a new country), GLD-105 (impossible
// travel) and GLD-106 (Admin Mode or a repository operation from a new
// country) share one profile per user: the places the user's events came
// from over the last baseline.days days of event time, and the user's
// last located sign-in. Like the baselines of GLD-101..103, profiles learn
// from event time (a backfill teaches them), are bounded, and are kept in
// the storage extension. An event is judged against the profile before it,
// then learnt.
//
// Roaming is told apart from travel by what the profiles already hold: a
// user with no day of history is not judged (every place is new to them);
// a jump to a place the user has been seen at, to a network (autonomous
// system) the user has used before, such as another exit of the user's VPN
// provider, or to a place of the organisation (where at least
// geoip::shared_place_users users' events came from: an office, a company
// VPN exit) is kept at LOW.

// geoPlace is one place a user's events came from.
type geoPlace struct {
	Country  string  `json:"c"`
	City     string  `json:"t,omitempty"`
	ASN      int64   `json:"a,omitempty"`
	ASOrg    string  `json:"o,omitempty"`
	Lat      float64 `json:"y,omitempty"`
	Lon      float64 `json:"x,omitempty"`
	Located  bool    `json:"l,omitempty"`
	First    int64   `json:"f"` // event times, Unix nanoseconds
	Last     int64   `json:"s"`
	SignedIn bool    `json:"i,omitempty"` // a located sign-in came from here (the last sign-in, when Last equals the user's)
}

// key names a place for the organisation's counts (see same).
func (p geoPlace) key() string {
	if p.City != "" {
		return p.Country + "|" + strings.ToLower(p.City)
	}
	return fmt.Sprintf("%s|%.1f|%.1f", p.Country, p.Lat, p.Lon)
}

// same reports whether two records are the same place: the same country
// and city, else (without a city) the same country and coordinates to a
// tenth of a degree.
func (p geoPlace) same(o geoPlace) bool {
	if p.Country != o.Country {
		return false
	}
	if p.City != "" || o.City != "" {
		return strings.EqualFold(p.City, o.City)
	}
	return math.Round(p.Lat*10) == math.Round(o.Lat*10) && math.Round(p.Lon*10) == math.Round(o.Lon*10)
}

// label renders a place for notes: "Berlin, DE (AS3320 Deutsche Telekom AG)".
func (p geoPlace) label() string {
	var b strings.Builder
	if p.City != "" {
		b.WriteString(p.City + ", ")
	}
	b.WriteString(p.Country)
	if p.ASN != 0 {
		fmt.Fprintf(&b, " (AS%d", p.ASN)
		if p.ASOrg != "" {
			b.WriteString(" " + p.ASOrg)
		}
		b.WriteString(")")
	}
	return b.String()
}

// geoUser is the profile of one user.
type geoUser struct {
	user   actor
	places []geoPlace // most recently seen last
	// lastSignIn is the user's latest located sign-in; zero when none.
	lastSignIn geoPlace
}

// geoProfiles holds the profiles; safe for concurrent use.
type geoProfiles struct {
	days      int32
	maxPlaces int
	maxUsers  int
	maxSpeed  float64 // km/h
	minDist   float64 // km
	shared    int     // users that make a place the organisation's

	mu      sync.Mutex
	users   map[actor]*list.Element
	lru     *list.List     // of *geoUser, most recently seen first
	places  map[string]int // place key -> users whose profile holds it
	changed bool
}

func newGeoProfiles(cfg GeoIPConfig, base BaselineConfig, maxUsers int) *geoProfiles {
	days := base.Days
	if days < 1 {
		days = 14 // baselines off: places are still remembered for the geo rules
	}
	return &geoProfiles{
		days: int32(days), maxPlaces: cfg.MaxPlacesPerUser, maxUsers: maxUsers,
		maxSpeed: cfg.ImpossibleTravel.MaxSpeedKMH, minDist: cfg.ImpossibleTravel.MinDistanceKM,
		shared: cfg.SharedPlaceUsers,
		users:  map[actor]*list.Element{}, lru: list.New(), places: map[string]int{},
	}
}

// geoVerdicts is what the geo rules decide about one event.
type geoVerdicts struct {
	newCountry, travel, sensitive verdict
}

// Event types the geo rules read.
var (
	adminModeType      = "user_enable_admin_mode"
	geoSensitiveTypes  = []string{adminModeType, "repository_git_operation", "repository_download_operation"}
	loginSuccessLookup = func() map[string]bool {
		m := map[string]bool{}
		for _, t := range loginSuccessTypes {
			m[t] = true
		}
		return m
	}()
)

// assess judges an event against its user's profile, then learns it.
// Events without a located client address (private, unknown) are neither
// judged nor learnt.
func (g *geoProfiles) assess(e *event) geoVerdicts {
	var out geoVerdicts
	info := geoOf(e.attrs)
	if info.country == "" {
		return out
	}
	signIn := loginSuccessLookup[e.typ]
	user := authorKey(e)
	if signIn {
		user = accountKey(e)
	}
	if !user.known() {
		return out
	}
	at := e.eventTime()
	here := geoPlace{Country: info.country, City: info.city, ASN: info.asn, ASOrg: info.asOrg,
		Lat: info.lat, Lon: info.lon, Located: info.hasLocation, First: at, Last: at, SignedIn: signIn}

	g.mu.Lock()
	defer g.mu.Unlock()
	u := g.state(user)
	g.prune(u, at)
	day := dayOf(at)
	history, countryKnown, asnKnown, placeKnown := false, false, false, false
	var latest geoPlace
	for _, p := range u.places {
		if dayOf(p.First) < day {
			history = true
		}
		if p.Country == here.Country {
			countryKnown = true
		}
		if here.ASN != 0 && p.ASN == here.ASN {
			asnKnown = true
		}
		if p.same(here) {
			placeKnown = true
		}
		if p.Last > latest.Last {
			latest = p
		}
	}
	// A place of the organisation: other users' events came from it.
	sharedBy := 0
	if !placeKnown {
		sharedBy = g.places[here.key()]
	}
	orgPlace := sharedBy >= g.shared
	orgNote := fmt.Sprintf("; kept at LOW: a place of the organisation (%d users' events came from it)", sharedBy)

	if history && !countryKnown {
		what := "sign-in"
		if !signIn {
			what = geoActivity(e)
		}
		note := fmt.Sprintf("first %s from %s at %s; before it: %s at %s; countries of the last %d days: %s",
			what, here.label(), stamp(at), latest.label(), stamp(latest.Last), g.days, strings.Join(u.countries(), ", "))
		v := verdict{fire: true, note: note}
		switch {
		case asnKnown:
			v = verdict{suppressed: reasonBaseline, note: note + "; kept at LOW: a network this user has used before (AS" + fmt.Sprint(here.ASN) + ")"}
		case orgPlace:
			v = verdict{suppressed: reasonBaseline, note: note + orgNote}
		}
		if signIn {
			out.newCountry = v
		} else {
			v.raise = v.fire && e.typ == adminModeType
			out.sensitive = v
		}
	}

	prev := u.lastSignIn
	if signIn && here.Located && prev.Located && prev.Last <= at {
		km := haversineKM(prev.Lat, prev.Lon, here.Lat, here.Lon)
		hours := float64(at-prev.Last) / float64(time.Hour)
		speed := math.Inf(1)
		if hours > 0 {
			speed = km / hours
		}
		if km > g.minDist && speed > g.maxSpeed {
			note := fmt.Sprintf("%s at %s, then %s at %s: %.0f km in %s (%s km/h; max_speed_kmh %g)",
				prev.label(), stamp(prev.Last), here.label(), stamp(at), km, shortDuration(time.Duration(at-prev.Last).Round(time.Second)), speedText(speed), g.maxSpeed)
			switch {
			case !history:
				out.travel = verdict{suppressed: reasonBaseline, note: note + "; kept at LOW: no history for this user"}
			case placeKnown:
				out.travel = verdict{suppressed: reasonBaseline, note: note + "; kept at LOW: both places are usual for this user"}
			case asnKnown:
				out.travel = verdict{suppressed: reasonBaseline, note: note + "; kept at LOW: a network this user has used before (AS" + fmt.Sprint(here.ASN) + ")"}
			case orgPlace:
				out.travel = verdict{suppressed: reasonBaseline, note: note + orgNote}
			default:
				out.travel = verdict{fire: true, note: note}
			}
		}
	}

	g.learn(u, here)
	if signIn && here.Located && at >= u.lastSignIn.Last {
		u.lastSignIn = here
	}
	g.changed = true
	return out
}

// geoActivity names the sensitive activity of an event for notes.
func geoActivity(e *event) string {
	switch e.typ {
	case adminModeType:
		return "Admin Mode"
	case "repository_download_operation":
		return "repository download"
	}
	return "repository operation"
}

// countries returns the distinct countries of the user's places, sorted.
func (u *geoUser) countries() []string {
	var out []string
	for _, p := range u.places {
		if !containsString(out, p.Country) {
			out = append(out, p.Country)
		}
	}
	sort.Strings(out)
	return out
}

// learn adds a place to the profile, or updates it, keeping the places
// ordered by when they were last seen (most recent last).
func (g *geoProfiles) learn(u *geoUser, here geoPlace) {
	known := false
	for i := range u.places {
		p := u.places[i]
		if !p.same(here) {
			continue
		}
		p.First = min(p.First, here.First)
		if here.Last >= p.Last {
			p.Last = here.Last
			if here.ASN != 0 {
				p.ASN, p.ASOrg = here.ASN, here.ASOrg
			}
		}
		p.SignedIn = p.SignedIn || here.SignedIn
		// Move it to its place in the order.
		copy(u.places[i:], u.places[i+1:])
		u.places = u.places[:len(u.places)-1]
		here, known = p, true
		break
	}
	if !known {
		g.places[here.key()]++
	}
	// The most recent usually goes last: search from the end.
	i := len(u.places)
	for i > 0 && u.places[i-1].Last > here.Last {
		i--
	}
	u.places = append(u.places, geoPlace{})
	copy(u.places[i+1:], u.places[i:])
	u.places[i] = here
	if over := len(u.places) - g.maxPlaces; over > 0 {
		g.release(u.places[:over])
		u.places = append(u.places[:0], u.places[over:]...)
	}
}

// release takes places a profile no longer holds out of the
// organisation's counts.
func (g *geoProfiles) release(places []geoPlace) {
	for _, p := range places {
		k := p.key()
		if g.places[k] <= 1 {
			delete(g.places, k)
			continue
		}
		g.places[k]--
	}
}

// prune forgets the places not seen within the last days.
func (g *geoProfiles) prune(u *geoUser, at int64) {
	from := dayOf(at) - g.days
	keep := u.places[:0]
	for _, p := range u.places {
		if dayOf(p.Last) >= from {
			keep = append(keep, p)
			continue
		}
		g.release([]geoPlace{p})
	}
	u.places = keep
	if u.lastSignIn.Located && dayOf(u.lastSignIn.Last) < from {
		u.lastSignIn = geoPlace{}
	}
}

// state returns the user's profile, creating it and forgetting the user
// seen least recently when full.
func (g *geoProfiles) state(a actor) *geoUser {
	if el, ok := g.users[a]; ok {
		g.lru.MoveToFront(el)
		return el.Value.(*geoUser)
	}
	for g.lru.Len() >= g.maxUsers {
		oldest := g.lru.Back()
		g.lru.Remove(oldest)
		gone := oldest.Value.(*geoUser)
		g.release(gone.places)
		delete(g.users, gone.user)
	}
	a.name = strings.Clone(a.name)
	u := &geoUser{user: a}
	g.users[a] = g.lru.PushFront(u)
	return u
}

// storedGeoUser is the stored form of a profile: the processor's own
// JSON, user ids and names, countries, cities, networks, coordinates and
// times; no event content.
type storedGeoUser struct {
	ID         int64      `json:"id,omitempty"`
	Name       string     `json:"name,omitempty"`
	Places     []geoPlace `json:"places,omitempty"`
	LastSignIn *geoPlace  `json:"last_sign_in,omitempty"`
}

// marshal returns the profiles as stored, least recently seen user first;
// false when nothing changed since the last call.
func (g *geoProfiles) marshal() ([]byte, bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.changed {
		return nil, false, nil
	}
	out := make([]storedGeoUser, 0, g.lru.Len())
	for el := g.lru.Back(); el != nil; el = el.Prev() {
		u := el.Value.(*geoUser)
		su := storedGeoUser{ID: u.user.id, Name: u.user.name, Places: u.places}
		if u.lastSignIn.Located {
			last := u.lastSignIn
			su.LastSignIn = &last
		}
		out = append(out, su)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, false, err
	}
	g.changed = false
	return raw, true, nil
}

// unmarshal restores stored profiles.
func (g *geoProfiles) unmarshal(raw []byte) error {
	var in []storedGeoUser
	if err := json.Unmarshal(raw, &in); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, su := range in {
		a := actor{id: su.ID, name: su.Name}
		if !a.known() {
			continue
		}
		u := g.state(a)
		g.release(u.places)
		u.places = append(u.places[:0], su.Places...)
		sort.SliceStable(u.places, func(i, j int) bool { return u.places[i].Last < u.places[j].Last })
		if over := len(u.places) - g.maxPlaces; over > 0 {
			u.places = u.places[over:]
		}
		for _, p := range u.places {
			g.places[p.key()]++
		}
		u.lastSignIn = geoPlace{}
		if su.LastSignIn != nil {
			u.lastSignIn = *su.LastSignIn
		}
	}
	return nil
}

// tracked returns the number of users with a profile.
func (g *geoProfiles) tracked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lru.Len()
}

const earthRadiusKM = 6371.0088

// haversineKM is the great-circle distance between two points, in km.
func haversineKM(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKM * math.Asin(math.Min(1, math.Sqrt(a)))
}

func speedText(kmh float64) string {
	if math.IsInf(kmh, 1) {
		return "∞"
	}
	return fmt.Sprintf("%.0f", kmh)
}

// stamp renders an event time for notes.
func stamp(at int64) string {
	return time.Unix(0, at).UTC().Format("2006-01-02T15:04:05Z")
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
