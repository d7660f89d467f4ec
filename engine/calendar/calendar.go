// Package calendar is business calendars for human work: working hours
// per weekday in a time zone, and holidays. Durations of manual tasks
// count working time: with Mon–Fri 09:00–17:00, four hours from Friday
// 16:00 end Monday 12:00. Pure: no I/O but loading time zones (embedded,
// so they resolve on any machine).
package calendar

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zones on machines without a zoneinfo database
)

// Spec is a calendar as the catalog writes it:
//
//	calendar: {timezone: Europe/Berlin, hours: ["Mon-Fri 09:00-17:00"], holidays: ["2026-12-25"]}
type Spec struct {
	Timezone string   `yaml:"timezone" json:"timezone"`
	Hours    []string `yaml:"hours" json:"hours"`
	Holidays []string `yaml:"holidays" json:"holidays"`
}

// Problem is one thing wrong with a Spec.
type Problem struct{ Path, Message string }

// span is a working interval of a day, in minutes since midnight.
type span struct{ from, to int }

// Calendar is a compiled Spec. A nil *Calendar is always working.
type Calendar struct {
	loc      *time.Location
	week     [7][]span // by time.Weekday, sorted
	holidays map[civil]bool
	text     string
}

type civil struct {
	y int
	m time.Month
	d int
}

func civilOf(t time.Time) civil { y, m, d := t.Date(); return civil{y, m, d} }

// searchLimit bounds how far Add and Next look for working time (a
// calendar whose holidays block years of it).
const searchLimit = 10 * 366

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "sunday": time.Sunday, "mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tuesday": time.Tuesday, "wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thursday": time.Thursday, "fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
}

// Compile checks a spec completely and compiles it.
func Compile(s Spec) (*Calendar, []Problem) {
	var problems []Problem
	bad := func(path, format string, args ...any) {
		problems = append(problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	c := &Calendar{loc: time.UTC, holidays: map[civil]bool{}}
	if s.Timezone != "" {
		loc, err := time.LoadLocation(s.Timezone)
		if err != nil {
			bad("timezone", "unknown time zone %q (an IANA name like Europe/Berlin)", s.Timezone)
		} else {
			c.loc = loc
		}
	}
	owner := [7][]int{} // which hours entry each span came from
	for i, h := range s.Hours {
		path := fmt.Sprintf("hours[%d]", i)
		days, spans, err := parseHours(h)
		if err != "" {
			bad(path, "%s (write e.g. \"Mon-Fri 09:00-17:00\" or \"Sat 10:00-12:00, 13:00-15:00\")", err)
			continue
		}
		for _, d := range days {
			for _, sp := range spans {
				for k, other := range c.week[d] {
					if sp.from < other.to && other.from < sp.to {
						where := "itself"
						if owner[d][k] != i {
							where = fmt.Sprintf("hours[%d]", owner[d][k])
						}
						bad(path, "%s %s overlaps %s on %s", time.Weekday(d).String()[:3], fmtSpan(sp), where, time.Weekday(d))
					}
				}
				c.week[d] = append(c.week[d], sp)
				owner[d] = append(owner[d], i)
			}
		}
	}
	working := false
	for d := range c.week {
		slices.SortFunc(c.week[d], func(a, b span) int { return a.from - b.from })
		working = working || len(c.week[d]) > 0
	}
	if !working && len(problems) == 0 {
		bad("hours", "a calendar needs working hours")
	}
	for i, h := range s.Holidays {
		path := fmt.Sprintf("holidays[%d]", i)
		t, err := time.Parse(time.DateOnly, h)
		if err != nil {
			bad(path, "a holiday is a date like 2026-12-25, not %q", h)
			continue
		}
		if c.holidays[civilOf(t)] {
			bad(path, "%s is named twice", h)
		}
		c.holidays[civilOf(t)] = true
	}
	if len(problems) > 0 {
		return nil, problems
	}
	c.text = fmt.Sprintf("%s %s", c.loc, strings.Join(s.Hours, "; "))
	if n := len(c.holidays); n > 0 {
		c.text += fmt.Sprintf(", %d holiday%s", n, map[bool]string{true: "s"}[n > 1])
	}
	return c, nil
}

func fmtSpan(s span) string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", s.from/60, s.from%60, s.to/60, s.to%60)
}

// parseHours reads "DAYS HH:MM-HH:MM[, HH:MM-HH:MM...]".
func parseHours(h string) ([]time.Weekday, []span, string) {
	daysText, spansText, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return nil, nil, fmt.Sprintf("%q names no hours", h)
	}
	var days []time.Weekday
	for _, part := range strings.Split(daysText, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, ok := dayNames[strings.ToLower(from)]
		if !ok {
			return nil, nil, fmt.Sprintf("unknown day %q", from)
		}
		if !isRange {
			days = append(days, a)
			continue
		}
		b, ok := dayNames[strings.ToLower(to)]
		if !ok {
			return nil, nil, fmt.Sprintf("unknown day %q", to)
		}
		for d := a; ; d = (d + 1) % 7 {
			days = append(days, d)
			if d == b {
				break
			}
		}
	}
	var spans []span
	for _, part := range strings.Split(spansText, ",") {
		part = strings.TrimSpace(part)
		from, to, ok := strings.Cut(part, "-")
		if !ok {
			return nil, nil, fmt.Sprintf("%q is not HH:MM-HH:MM", part)
		}
		a, okA := clock(from)
		b, okB := clock(to)
		switch {
		case !okA || !okB:
			return nil, nil, fmt.Sprintf("%q is not HH:MM-HH:MM", part)
		case a >= b:
			return nil, nil, fmt.Sprintf("%q ends before it starts (a span past midnight is two: 22:00-24:00 and, the next day, 00:00-06:00)", part)
		}
		spans = append(spans, span{a, b})
	}
	return days, spans, ""
}

// clock reads HH:MM (00:00 to 24:00) as minutes.
func clock(s string) (int, bool) {
	hh, mm, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(hh) != 2 || len(mm) != 2 {
		return 0, false
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

// intervals are the working instants of the day of t (in the calendar's
// zone), in order: the wall-clock spans on that date, so a DST change
// inside a span makes it shorter or longer.
func (c *Calendar) intervals(day time.Time, buf [][2]time.Time) [][2]time.Time {
	buf = buf[:0]
	y, m, d := day.Date()
	if c.holidays[civil{y, m, d}] {
		return buf
	}
	for _, sp := range c.week[day.Weekday()] {
		from := time.Date(y, m, d, sp.from/60, sp.from%60, 0, 0, c.loc)
		to := time.Date(y, m, d, sp.to/60, sp.to%60, 0, 0, c.loc)
		if to.After(from) {
			buf = append(buf, [2]time.Time{from, to})
		}
	}
	return buf
}

// Add returns the instant at which d of working time has passed since t
// (d <= 0: t). It looks ten years ahead at most; past that (holidays
// leaving no working time) it counts every hour: t.Add(d).
func (c *Calendar) Add(t time.Time, d time.Duration) time.Time {
	if c == nil || d <= 0 {
		return t.Add(max(d, 0))
	}
	left := d
	day := dayOf(t.In(c.loc))
	var buf [][2]time.Time
	for range searchLimit {
		buf = c.intervals(day, buf)
		for _, iv := range buf {
			from := iv[0]
			if iv[1].Before(t) || iv[1].Equal(t) {
				continue
			}
			if from.Before(t) {
				from = t
			}
			if avail := iv[1].Sub(from); avail >= left {
				return from.Add(left).In(t.Location())
			} else {
				left -= avail
			}
		}
		day = nextDay(day)
	}
	return t.Add(d)
}

// Between returns the working time from a to b (0 when b is not after a).
func (c *Calendar) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if c == nil {
		return b.Sub(a)
	}
	var total time.Duration
	day := dayOf(a.In(c.loc))
	var buf [][2]time.Time
	for y, m, d := day.Date(); !time.Date(y, m, d, 0, 0, 0, 0, c.loc).After(b); y, m, d = day.Date() {
		buf = c.intervals(day, buf)
		for _, iv := range buf {
			from, to := iv[0], iv[1]
			if from.Before(a) {
				from = a
			}
			if to.After(b) {
				to = b
			}
			if to.After(from) {
				total += to.Sub(from)
			}
		}
		day = nextDay(day)
	}
	return total
}

// Working reports whether t is working time.
func (c *Calendar) Working(t time.Time) bool {
	if c == nil {
		return true
	}
	lt := t.In(c.loc)
	for _, iv := range c.intervals(dayOf(lt), nil) {
		if !t.Before(iv[0]) && t.Before(iv[1]) {
			return true
		}
	}
	return false
}

// Next returns the first working instant at or after t (t when no working
// time comes within ten years).
func (c *Calendar) Next(t time.Time) time.Time {
	if c == nil {
		return t
	}
	day := dayOf(t.In(c.loc))
	var buf [][2]time.Time
	for range searchLimit {
		buf = c.intervals(day, buf)
		for _, iv := range buf {
			if t.Before(iv[1]) {
				if t.Before(iv[0]) {
					return iv[0].In(t.Location())
				}
				return t
			}
		}
		day = nextDay(day)
	}
	return t
}

// String describes the calendar, e.g. "Europe/Berlin Mon-Fri 09:00-17:00, 2 holidays".
func (c *Calendar) String() string {
	if c == nil {
		return "always"
	}
	return c.text
}

// dayOf is local midnight's date of t (as a noon instant, which no DST
// change skips).
func dayOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 12, 0, 0, 0, t.Location())
}

func nextDay(day time.Time) time.Time {
	y, m, d := day.Date()
	return time.Date(y, m, d+1, 12, 0, 0, 0, day.Location())
}
