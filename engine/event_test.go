package engine_test

import (
	"fmt"
	"testing"

	"github.com/batonhq/baton/engine"
)

func TestCursor(t *testing.T) {
	cases := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"", 0, false},
		{"0", 0, false},
		{"1", 1, false},
		{"42", 42, false},
		{"9223372036854775807", 9223372036854775807, false},
		{"-1", 0, true},
		{"abc", 0, true},
		{"1.5", 0, true},
		{" 1", 0, true},
		{"9223372036854775808", 0, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("ParseCursor(%q)", tc.in), func(t *testing.T) {
			got, err := engine.ParseCursor(tc.in)
			if tc.wantErr {
				if err == nil || !engine.IsCode(err, engine.CodeBadUserInput) {
					t.Errorf("ParseCursor(%q) = %d, %v; want a BAD_USER_INPUT error", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseCursor(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
	for _, id := range []int64{0, 1, 17, 1 << 40, 9223372036854775807} {
		s := engine.FormatCursor(id)
		got, err := engine.ParseCursor(s)
		if err != nil || got != id {
			t.Errorf("ParseCursor(FormatCursor(%d) = %q) = %d, %v; want %d", id, s, got, err, id)
		}
	}
	if got := (&engine.Event{ID: 99}).Cursor(); got != "99" {
		t.Errorf("Event{ID: 99}.Cursor() = %q; want \"99\"", got)
	}
}
