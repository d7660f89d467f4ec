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

func TestMergeStepMoves(t *testing.T) {
	mv := func(step int, from, to string, note ...string) *engine.Event {
		e := &engine.Event{Kind: engine.EventStepStatus, StepID: step, From: from, To: to}
		if len(note) > 0 {
			e.Note = note[0]
		}
		return e
	}
	other := func(kind engine.EventKind, to string) *engine.Event {
		return &engine.Event{Kind: kind, PlanID: 9, To: to}
	}
	show := func(evs []*engine.Event) string {
		s := ""
		for _, e := range evs {
			if s != "" {
				s += " "
			}
			if e.StepID == 0 {
				s += fmt.Sprintf("%s:%s", e.Kind, e.To)
				continue
			}
			s += fmt.Sprintf("%d:%s>%s", e.StepID, e.From, e.To)
			if e.Note != "" {
				s += "(" + e.Note + ")"
			}
		}
		return s
	}
	cases := []struct {
		name string
		in   []*engine.Event
		want string
	}{
		{"nothing", nil, ""},
		{"one move", []*engine.Event{mv(1, "READY", "RUNNING")}, "1:READY>RUNNING"},
		{"an in-transaction auto task: one event",
			[]*engine.Event{mv(1, "PENDING", "READY"), mv(1, "READY", "RUNNING"), mv(1, "RUNNING", "COMPLETED")}, "1:PENDING>COMPLETED"},
		{"a milestone", []*engine.Event{mv(1, "PENDING", "READY"), mv(1, "READY", "COMPLETED")}, "1:PENDING>COMPLETED"},
		{"not finished: every move stays",
			[]*engine.Event{mv(1, "PENDING", "READY"), mv(1, "READY", "RUNNING")}, "1:PENDING>READY 1:READY>RUNNING"},
		{"fallout is not the end: stays",
			[]*engine.Event{mv(1, "READY", "RUNNING"), mv(1, "RUNNING", "FALLOUT", "boom")}, "1:READY>RUNNING 1:RUNNING>FALLOUT(boom)"},
		{"the merged event takes the last move's place, after what it caused",
			[]*engine.Event{mv(1, "PENDING", "READY"), other(engine.EventPlanStatus, "IN_PROGRESS"), mv(1, "READY", "COMPLETED"), mv(2, "PENDING", "READY")},
			"PLAN_STATUS:IN_PROGRESS 1:PENDING>COMPLETED 2:PENDING>READY"},
		{"steps are merged each on their own",
			[]*engine.Event{mv(1, "PENDING", "READY"), mv(2, "PENDING", "READY"), mv(1, "READY", "COMPLETED"), mv(2, "READY", "RUNNING")},
			"2:PENDING>READY 1:PENDING>COMPLETED 2:READY>RUNNING"},
		{"the last note given wins; an earlier one is kept when the last has none",
			[]*engine.Event{mv(1, "PENDING", "READY", "first"), mv(1, "READY", "WAITING"), mv(1, "WAITING", "COMPLETED")}, "1:PENDING>COMPLETED(first)"},
		{"a chain back through its own start keeps the dropped moves' note",
			[]*engine.Event{mv(1, "RUNNING", "READY", "lease lost"), mv(1, "READY", "RUNNING"), mv(1, "RUNNING", "COMPLETED")}, "1:RUNNING>COMPLETED(lease lost)"},
		{"a chain broken by a gap is merged only from the gap on",
			[]*engine.Event{mv(1, "PENDING", "READY"), mv(1, "RUNNING", "COMPLETED")}, "1:PENDING>READY 1:RUNNING>COMPLETED"},
		{"order and plan events are never merged",
			[]*engine.Event{other(engine.EventOrderStatus, "SUBMITTED"), other(engine.EventOrderStatus, "IN_PROGRESS")},
			"ORDER_STATUS:SUBMITTED ORDER_STATUS:IN_PROGRESS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := make([]*engine.Event, len(c.in))
			copy(in, c.in)
			before := show(c.in)
			if got := show(engine.MergeStepMoves(c.in)); got != c.want {
				t.Errorf("MergeStepMoves(%s) = %s; want %s", before, got, c.want)
			}
			if show(c.in) != before {
				t.Errorf("MergeStepMoves changed its input: %s, was %s", show(c.in), before)
			}
		})
	}
}

// BenchmarkMergeStepMoves: the events of cancelling a 50,007-step plan
// (one move per step, none merged), and of a 12-step order's transaction.
//
//	go test ./engine -run '^$' -bench MergeStepMoves
func BenchmarkMergeStepMoves(b *testing.B) {
	for _, n := range []int{12, 50007} {
		evs := make([]*engine.Event, n)
		for i := range evs {
			evs[i] = &engine.Event{Kind: engine.EventStepStatus, StepID: i + 1, From: "PENDING", To: "CANCELLED"}
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				engine.MergeStepMoves(evs)
			}
		})
	}
}
