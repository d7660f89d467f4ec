package catalog

import (
	"testing"
	"time"
)

func TestRetryPolicyDelay(t *testing.T) {
	exp := RetryPolicy{Max: 10, Policy: RetryExponential, Backoff: 2 * time.Second, MaxBackoff: 30 * time.Second}
	sched := RetryPolicy{Max: 10, Policy: RetrySchedule, Schedule: []time.Duration{10 * time.Second, time.Minute, 10 * time.Minute}}
	cases := []struct {
		name   string
		policy RetryPolicy
		n      int
		want   time.Duration
	}{
		{"IMMEDIATE 1", RetryPolicy{Policy: RetryImmediate, Backoff: time.Second}, 1, 0},
		{"IMMEDIATE 5", RetryPolicy{Policy: RetryImmediate}, 5, 0},
		{"FIXED 1", RetryPolicy{Policy: RetryFixed, Backoff: 10 * time.Second}, 1, 10 * time.Second},
		{"FIXED 7", RetryPolicy{Policy: RetryFixed, Backoff: 10 * time.Second}, 7, 10 * time.Second},
		{"EXPONENTIAL 0 counts as 1", exp, 0, 2 * time.Second},
		{"EXPONENTIAL 1", exp, 1, 2 * time.Second},
		{"EXPONENTIAL 2", exp, 2, 4 * time.Second},
		{"EXPONENTIAL 3", exp, 3, 8 * time.Second},
		{"EXPONENTIAL 4", exp, 4, 16 * time.Second},
		{"EXPONENTIAL 5 capped", exp, 5, 30 * time.Second},
		{"EXPONENTIAL 100 capped", exp, 100, 30 * time.Second},
		{"EXPONENTIAL backoff above max", RetryPolicy{Policy: RetryExponential, Backoff: time.Minute, MaxBackoff: 30 * time.Second}, 1, 30 * time.Second},
		{"EXPONENTIAL without max", RetryPolicy{Policy: RetryExponential, Backoff: time.Second}, 11, 1024 * time.Second},
		{"SCHEDULE 1", sched, 1, 10 * time.Second},
		{"SCHEDULE 2", sched, 2, time.Minute},
		{"SCHEDULE 3", sched, 3, 10 * time.Minute},
		{"SCHEDULE 4 repeats the last", sched, 4, 10 * time.Minute},
		{"SCHEDULE 0 counts as 1", sched, 0, 10 * time.Second},
		{"SCHEDULE empty", RetryPolicy{Policy: RetrySchedule}, 1, 0},
		{"no policy", RetryPolicy{Backoff: time.Second}, 1, 0},
		{"default callout retry 3", DefaultCalloutRetry, 3, 8 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.policy.Delay(tc.n); got != tc.want {
				t.Errorf("%+v.Delay(%d) = %v; want %v", tc.policy, tc.n, got, tc.want)
			}
		})
	}
}

func TestRetryPolicyNext(t *testing.T) {
	failedAt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name    string
		policy  RetryPolicy
		attempt int
		wantOK  bool
		wait    time.Duration
	}{
		{"FIXED first failure", RetryPolicy{Max: 3, Policy: RetryFixed, Backoff: 10 * time.Second}, 1, true, 10 * time.Second},
		{"FIXED last retry", RetryPolicy{Max: 3, Policy: RetryFixed, Backoff: 10 * time.Second}, 3, true, 10 * time.Second},
		{"FIXED exhausted", RetryPolicy{Max: 3, Policy: RetryFixed, Backoff: 10 * time.Second}, 4, false, 0},
		{"max 0 never retries", RetryPolicy{Max: 0, Policy: RetryImmediate}, 1, false, 0},
		{"IMMEDIATE", RetryPolicy{Max: 1, Policy: RetryImmediate}, 1, true, 0},
		{"EXPONENTIAL second failure", RetryPolicy{Max: 5, Policy: RetryExponential, Backoff: time.Second, MaxBackoff: time.Minute}, 2, true, 2 * time.Second},
		{"SCHEDULE third failure", RetryPolicy{Max: 5, Policy: RetrySchedule, Schedule: []time.Duration{time.Second, time.Minute, time.Hour}}, 3, true, time.Hour},
		{"SCHEDULE exhausted", RetryPolicy{Max: 2, Policy: RetrySchedule, Schedule: []time.Duration{time.Second}}, 3, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at, ok := tc.policy.Next(tc.attempt, failedAt)
			if ok != tc.wantOK {
				t.Fatalf("%+v.Next(%d) ok = %v; want %v", tc.policy, tc.attempt, ok, tc.wantOK)
			}
			if !ok {
				if !at.IsZero() {
					t.Errorf("%+v.Next(%d) = %v, false; want the zero time", tc.policy, tc.attempt, at)
				}
				return
			}
			if want := failedAt.Add(tc.wait); !at.Equal(want) {
				t.Errorf("%+v.Next(%d) = %v; want %v", tc.policy, tc.attempt, at, want)
			}
		})
	}
	// A policy with Max retries runs a step at most Max+1 times.
	p := RetryPolicy{Max: 3, Policy: RetryImmediate}
	runs := 1
	for attempt := 1; ; attempt++ {
		if _, ok := p.Next(attempt, failedAt); !ok {
			break
		}
		runs++
	}
	if runs != 4 {
		t.Errorf("Max 3: %d runs; want 4", runs)
	}
}
