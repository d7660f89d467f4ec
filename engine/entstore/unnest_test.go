package entstore

import (
	"database/sql"
	"encoding/json"
	"os"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/batonhq/baton/engine/enginetest"
)

func TestPGArray(t *testing.T) {
	ts := time.Date(2026, 11, 22, 3, 4, 5, 123456000, time.UTC)
	var nilTime *time.Time
	for _, tc := range []struct {
		name string
		in   []any
		want string
	}{
		{"empty", nil, "{}"},
		{"ints and NULL", []any{int64(1), nil, 3, int32(-4)}, `{"1",NULL,"3","-4"}`},
		{"strings needing quotes", []any{`a"b`, `c\d`, "e,f", "{g}", "NULL", ""}, `{"a\"b","c\\d","e,f","{g}","NULL",""}`},
		{"times", []any{ts, &ts, nilTime}, `{"2026-11-22 03:04:05.123456Z",` + `"2026-11-22 03:04:05.123456Z",NULL}`},
		{"bools and floats", []any{true, false, 1.5}, `{"true","false","1.5"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pgArray(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("pgArray(%v) = %s; want %s", tc.in, got, tc.want)
			}
		})
	}
	if _, err := pgArray([]any{[]byte("x")}); err == nil {
		t.Error("pgArray([]byte) succeeded; want an error (bytes have no text form here)")
	}
}

// TestPGArrayRoundTrip sends awkward values through the array text form
// to PostgreSQL and reads them back unchanged, in order.
func TestPGArrayRoundTrip(t *testing.T) {
	enginetest.RequirePostgres(t) // fails, never skips, where make test runs
	url := os.Getenv("BATON_TEST_POSTGRES_URL")
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	texts := []any{`quote " and backslash \ `, "comma, {brace}", "NULL", "", "ünïcödé ✓", "new\nline\ttab", nil}
	lit, err := pgArray(texts)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT x FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n`, lit)
	if err != nil {
		t.Fatal(err)
	}
	var got []any
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		if s.Valid {
			got = append(got, s.String)
		} else {
			got = append(got, nil)
		}
	}
	rows.Close()
	if len(got) != len(texts) {
		t.Fatalf("got %d values; want %d", len(got), len(texts))
	}
	for i := range texts {
		if got[i] != texts[i] {
			t.Errorf("value %d: got %q; want %q", i, got[i], texts[i])
		}
	}

	doc := `{"a": "x \"y\" \\ z", "n": [1, 2]}`
	ts := time.Date(2026, 11, 22, 3, 4, 5, 123456000, time.UTC)
	jl, _ := pgArray([]any{doc})
	tl, _ := pgArray([]any{ts})
	var back string
	var backTS time.Time
	if err := db.QueryRow(`SELECT j::text, t FROM unnest($1::jsonb[], $2::timestamptz[]) AS u(j, t)`, jl, tl).Scan(&back, &backTS); err != nil {
		t.Fatal(err)
	}
	var want, have any
	json.Unmarshal([]byte(doc), &want)
	if err := json.Unmarshal([]byte(back), &have); err != nil {
		t.Fatalf("jsonb came back as %q: %v", back, err)
	}
	if wb, _ := json.Marshal(want); string(wb) != mustJSON(have) {
		t.Errorf("jsonb: got %s; want %s", back, doc)
	}
	if !backTS.Equal(ts) {
		t.Errorf("timestamptz: got %v; want %v", backTS, ts)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
