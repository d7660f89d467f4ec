package catalog

import "time"

// RetryPolicyKind names how the delay before a retry is chosen.
type RetryPolicyKind string

// Retry policies, as DRO has them.
const (
	// RetryImmediate retries at once.
	RetryImmediate RetryPolicyKind = "IMMEDIATE"
	// RetryFixed waits Backoff before every retry.
	RetryFixed RetryPolicyKind = "FIXED"
	// RetryExponential waits Backoff, 2×Backoff, 4×Backoff, … up to MaxBackoff.
	RetryExponential RetryPolicyKind = "EXPONENTIAL"
	// RetrySchedule waits Schedule[0] before the first retry, Schedule[1]
	// before the second, and the last entry for every retry after that.
	RetrySchedule RetryPolicyKind = "SCHEDULE"
)

// RetryPolicy says how often and when a failed step is tried again.
type RetryPolicy struct {
	// Max is the number of retries after the first attempt: a step runs at
	// most Max+1 times before it falls out.
	Max        int
	Policy     RetryPolicyKind
	Backoff    time.Duration
	MaxBackoff time.Duration
	Schedule   []time.Duration
}

// Next decides what follows the failure of attempt number attempt (1 for
// the first): retry at the returned time, or fall out (ok false). It is a
// pure function of the policy, the attempt and the time of the failure.
func (p RetryPolicy) Next(attempt int, failedAt time.Time) (at time.Time, ok bool) {
	if attempt > p.Max {
		return time.Time{}, false
	}
	return failedAt.Add(p.Delay(attempt)), true
}

// Delay is the wait before retry number n (1 for the first retry).
func (p RetryPolicy) Delay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	switch p.Policy {
	case RetryFixed:
		return p.Backoff
	case RetryExponential:
		d := p.Backoff
		for i := 1; i < n; i++ {
			d *= 2
			if p.MaxBackoff > 0 && d >= p.MaxBackoff {
				return p.MaxBackoff
			}
		}
		if p.MaxBackoff > 0 && d > p.MaxBackoff {
			return p.MaxBackoff
		}
		return d
	case RetrySchedule:
		if len(p.Schedule) == 0 {
			return 0
		}
		if n > len(p.Schedule) {
			return p.Schedule[len(p.Schedule)-1]
		}
		return p.Schedule[n-1]
	}
	return 0
}
