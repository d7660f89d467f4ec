package calendar

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func mustCompile(t *testing.T, s Spec) *Calendar {
	t.Helper()
	c, problems := Compile(s)
	if len(problems) > 0 {
		t.Fatalf("Compile(%+v): %v", s, problems)
	}
	return c
}

func at(t *testing.T, loc, s string) time.Time {
	t.Helper()
	l, err := time.LoadLocation(loc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, l)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var office = Spec{Hours: []string{"Mon-Fri 09:00-17:00"}}

func TestAdd(t *testing.T) {
	berlin := office
	berlin.Timezone = "Europe/Berlin"
	split := Spec{Hours: []string{"Mon-Fri 09:00-12:00, 13:00-17:00"}}
	holidays := Spec{Hours: []string{"Mon-Fri 09:00-17:00"}, Holidays: []string{"2026-12-25", "2026-12-28"}}
	ny := Spec{Timezone: "America/New_York", Hours: []string{"Mon-Sun 00:00-24:00"}}
	nyOffice := Spec{Timezone: "America/New_York", Hours: []string{"Mon-Fri 09:00-17:00"}}
	berlinSunday := Spec{Timezone: "Europe/Berlin", Hours: []string{"Sun 00:00-24:00"}}
	for _, tc := range []struct {
		name  string
		spec  Spec
		loc   string
		start string
		d     time.Duration
		want  string
	}{
		{"Friday 16:00 + 4h is Monday 12:00", office, "UTC", "2026-12-04 16:00", 4 * time.Hour, "2026-12-07 12:00"},
		{"the same in Berlin", berlin, "Europe/Berlin", "2026-12-04 16:00", 4 * time.Hour, "2026-12-07 12:00"},
		{"Berlin hours seen from UTC", berlin, "UTC", "2026-12-04 15:00", 4 * time.Hour, "2026-12-07 11:00"},
		{"before opening", office, "UTC", "2026-12-01 07:30", time.Hour, "2026-12-01 10:00"},
		{"after closing", office, "UTC", "2026-12-01 18:00", time.Hour, "2026-12-02 10:00"},
		{"on a Saturday", office, "UTC", "2026-12-05 10:00", 30 * time.Minute, "2026-12-07 09:30"},
		{"a whole day ends at closing, not the next morning", office, "UTC", "2026-12-01 09:00", 8 * time.Hour, "2026-12-01 17:00"},
		{"at closing + 0", office, "UTC", "2026-12-01 17:00", 0, "2026-12-01 17:00"},
		{"at closing + 1m", office, "UTC", "2026-12-01 17:00", time.Minute, "2026-12-02 09:01"},
		{"a week of work", office, "UTC", "2026-12-01 09:00", 40 * time.Hour, "2026-12-07 17:00"},
		{"lunch does not count", split, "UTC", "2026-12-01 11:00", 2 * time.Hour, "2026-12-01 14:00"},
		{"Christmas on a Friday", holidays, "UTC", "2026-12-24 16:00", 2 * time.Hour, "2026-12-29 10:00"},
		{"starting on a holiday", holidays, "UTC", "2026-12-25 10:00", time.Hour, "2026-12-29 10:00"},
		{"spring forward: 24 working hours are 25 on the wall clock's day", ny, "America/New_York", "2026-03-08 00:00", 24 * time.Hour, "2026-03-09 01:00"},
		{"fall back: 24 working hours end at 23:00", ny, "America/New_York", "2026-11-01 00:00", 24 * time.Hour, "2026-11-01 23:00"},
		{"office hours across the spring change", nyOffice, "America/New_York", "2026-03-06 16:00", 2 * time.Hour, "2026-03-09 10:00"},
		{"office hours across the autumn change", nyOffice, "America/New_York", "2026-10-30 16:00", 2 * time.Hour, "2026-11-02 10:00"},
		{"Berlin's 23-hour Sunday", berlinSunday, "Europe/Berlin", "2026-03-29 00:00", 23 * time.Hour, "2026-03-29 23:59"},
		{"Berlin's 25-hour Sunday", berlinSunday, "Europe/Berlin", "2026-10-25 00:00", 25 * time.Hour, "2026-10-25 23:59"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, tc.spec)
			got := c.Add(at(t, tc.loc, tc.start), tc.d)
			want := at(t, tc.loc, tc.want)
			if strings.HasSuffix(tc.want, "23:59") {
				// The day's last instant: its end at midnight.
				want = want.Add(time.Minute)
			}
			if !got.Equal(want) {
				t.Errorf("Add(%s, %s) = %s; want %s", tc.start, tc.d, got, want)
			}
			if got.Location().String() != tc.loc {
				t.Errorf("result in %s; want the input's zone %s", got.Location(), tc.loc)
			}
			if b := c.Between(at(t, tc.loc, tc.start), got); b != tc.d {
				t.Errorf("Between(start, Add(start, %s)) = %s", tc.d, b)
			}
		})
	}
}

func TestBetweenAndAddAgree(t *testing.T) {
	specs := []Spec{
		office,
		{Timezone: "Europe/Berlin", Hours: []string{"Mon-Fri 08:00-12:00, 13:00-17:30", "Sat 10:00-14:00"}, Holidays: []string{"2026-04-03", "2026-04-06"}},
		{Timezone: "America/New_York", Hours: []string{"Sat-Mon 22:00-24:00", "Tue 00:00-06:00"}},
	}
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range specs {
		c := mustCompile(t, s)
		for range 500 {
			start := base.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
			d := time.Duration(r.Int64N(int64(60*time.Hour))) / time.Minute * time.Minute
			end := c.Add(start, d)
			if got := c.Between(start, end); got != d {
				t.Fatalf("%v: Between(%s, Add(%s, %s) = %s) = %s", s.Hours, start, start, d, end, got)
			}
			if d > 0 && !c.Working(end.Add(-time.Nanosecond)) {
				t.Fatalf("%v: the last instant before Add(%s, %s) = %s is not working time", s.Hours, start, d, end)
			}
		}
	}
}

func TestNextAndWorking(t *testing.T) {
	c := mustCompile(t, Spec{Hours: []string{"Mon-Fri 09:00-17:00"}, Holidays: []string{"2026-12-07"}})
	for _, tc := range []struct{ at, next string }{
		{"2026-12-04 10:00", "2026-12-04 10:00"},
		{"2026-12-04 17:00", "2026-12-08 09:00"}, // weekend, then a holiday
		{"2026-12-03 08:00", "2026-12-03 09:00"},
	} {
		got := c.Next(at(t, "UTC", tc.at))
		if want := at(t, "UTC", tc.next); !got.Equal(want) {
			t.Errorf("Next(%s) = %s; want %s", tc.at, got, want)
		}
		if working := c.Working(at(t, "UTC", tc.at)); working != (tc.at == tc.next) {
			t.Errorf("Working(%s) = %v", tc.at, working)
		}
	}
}

func TestAlways(t *testing.T) {
	var c *Calendar
	now := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	if got := c.Add(now, 5*time.Hour); !got.Equal(now.Add(5 * time.Hour)) {
		t.Errorf("nil calendar Add = %s", got)
	}
	if c.Between(now, now.Add(time.Hour)) != time.Hour || !c.Working(now) || !c.Next(now).Equal(now) || c.String() != "always" {
		t.Error("a nil calendar is not always working")
	}
}

func TestCompileProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		path string
		want string
	}{
		{"bad zone", Spec{Timezone: "Mars/Olympus", Hours: []string{"Mon 09:00-17:00"}}, "timezone", "unknown time zone"},
		{"hours without minutes", Spec{Hours: []string{"Mon-Fri 9-17"}}, "hours[0]", "is not HH:MM-HH:MM"},
		{"overnight", Spec{Hours: []string{"Mon-Fri 17:00-09:00"}}, "hours[0]", "ends before it starts"},
		{"overlap", Spec{Hours: []string{"Mon-Fri 09:00-17:00", "Wed 12:00-13:00"}}, "hours[1]", "overlaps hours[0]"},
		{"overlap in one entry", Spec{Hours: []string{"Mon 09:00-12:00, 11:00-13:00"}}, "hours[0]", "overlaps itself"},
		{"bad day", Spec{Hours: []string{"Funday 09:00-17:00"}}, "hours[0]", "unknown day"},
		{"no hours", Spec{Hours: []string{"Mon-Fri"}}, "hours[0]", "names no hours"},
		{"25 o'clock", Spec{Hours: []string{"Mon 09:00-25:00"}}, "hours[0]", "is not HH:MM-HH:MM"},
		{"bad holiday", Spec{Hours: []string{"Mon 09:00-17:00"}, Holidays: []string{"25.12.2026"}}, "holidays[0]", "a holiday is a date"},
		{"holiday twice", Spec{Hours: []string{"Mon 09:00-17:00"}, Holidays: []string{"2026-12-25", "2026-12-25"}}, "holidays[1]", "named twice"},
		{"no working time", Spec{}, "hours", "a calendar needs working hours"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, problems := Compile(tc.spec)
			if c != nil {
				t.Errorf("compiled despite problems")
			}
			for _, p := range problems {
				if p.Path == tc.path && strings.Contains(p.Message, tc.want) {
					return
				}
			}
			t.Errorf("problems %v; want one at %s containing %q", problems, tc.path, tc.want)
		})
	}
}

func TestDayNamesAndRanges(t *testing.T) {
	c := mustCompile(t, Spec{Hours: []string{"Sat-Mon 10:00-11:00", "wednesday,Friday 10:00-11:00"}})
	for day, want := range map[string]bool{
		"2026-12-05": true, "2026-12-06": true, "2026-12-07": true, // Sat, Sun, Mon
		"2026-12-08": false, "2026-12-09": true, "2026-12-10": false, "2026-12-11": true,
	} {
		if got := c.Working(at(t, "UTC", day+" 10:30")); got != want {
			t.Errorf("%s working = %v; want %v", day, got, want)
		}
	}
	if s := c.String(); !strings.Contains(s, "UTC") || !strings.Contains(s, "Sat-Mon 10:00-11:00") {
		t.Errorf("String() = %q", s)
	}
}
