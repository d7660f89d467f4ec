package catalog

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in      string
		want    time.Duration
		wantErr string // "" for success
	}{
		{"90s", 90 * time.Second, ""},
		{"15m", 15 * time.Minute, ""},
		{"24h", 24 * time.Hour, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"2d", 48 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1d30m15s", 24*time.Hour + 30*time.Minute + 15*time.Second, ""},
		{"0d", 0, ""},
		{"0s", 0, ""},
		{"  7d ", 7 * 24 * time.Hour, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"", 0, "empty duration"},
		{"   ", 0, "empty duration"},
		{"abc", 0, "bad duration"},
		{"5", 0, "bad duration"},
		{"5 seconds", 0, "bad duration"},
		{"d", 0, "bad duration"},
		{"2days", 0, "bad duration"},
		{"1.5d", 0, "bad duration"},
		{"1h2d", 0, "bad duration"},
		{"2d3d", 0, "bad duration"},
		{"-1h", 0, "negative duration"},
		{"1d-1h", 0, "negative duration"},
		// Negative and overflowing day counts are errors too.
		{"-2d", 0, "negative duration"},
		{"-1d12h", 0, "negative duration"},
		{"200000d", 0, "too long"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseDuration(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
			}
		})
	}
}
