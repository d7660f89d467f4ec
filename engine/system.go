package engine

import "time"

// SystemStatus is an operator's switch on an external system.
type SystemStatus string

const (
	// SystemOnline: callouts run.
	SystemOnline SystemStatus = "ONLINE"
	// SystemOffline: integration hold; callouts wait ON_HOLD, spending no
	// attempt, until the system is back ONLINE.
	SystemOffline SystemStatus = "OFFLINE"
)

// SystemState is a system's live state, shared by all replicas.
type SystemState struct {
	Name      string
	Status    SystemStatus
	Failures  int        // consecutive retryable callout failures
	OpenUntil *time.Time // circuit open (callouts held) until then
	ReleaseAt *time.Time // held callouts are released at the rate from here
	ChangedBy string
	UpdatedAt time.Time
}

// Held reports whether callouts to the system must wait at now: it is
// OFFLINE or its circuit is open.
func (s *SystemState) Held(now time.Time) bool {
	if s == nil {
		return false
	}
	return s.Status == SystemOffline || s.CircuitOpen(now)
}

// CircuitOpen reports whether the system's circuit breaker holds its
// callouts at now (it opened after consecutive failures and its open
// period has not passed).
func (s *SystemState) CircuitOpen(now time.Time) bool {
	return s != nil && s.OpenUntil != nil && now.Before(*s.OpenUntil)
}

// Switched is the state after an operator sets status at now. Coming
// back ONLINE clears the failure count and the circuit, and restarts the
// release of held callouts: one at once, then one per interval.
func (s SystemState) Switched(status SystemStatus, actor string, now time.Time, interval time.Duration) SystemState {
	s.Status, s.ChangedBy, s.UpdatedAt = status, actor, now
	if status == SystemOnline {
		release := now.Add(-interval)
		s.Failures, s.OpenUntil, s.ReleaseAt = 0, nil, &release
	}
	return s
}

// Breaker is a system's circuit breaker: after Threshold consecutive
// retryable failures (0: no breaker) its callouts are held for CoolDown,
// then released one per Interval.
type Breaker struct {
	Threshold int
	CoolDown  time.Duration
	Interval  time.Duration
}

// AfterOutcomes is the state after one transaction's callout outcomes for
// the system: failures retryable failures, and ok whether any call
// succeeded (a success resets the count before the failures add to it).
// When the count reaches the breaker's threshold the circuit opens:
// openedAfter is then the count that opened it, and the state's count
// starts again from zero. changed reports whether anything must be
// written.
func (s SystemState) AfterOutcomes(failures int, ok bool, b Breaker, now time.Time) (next SystemState, openedAfter int, changed bool) {
	n := s.Failures + failures
	if ok {
		n = failures
	}
	if b.Threshold > 0 && n >= b.Threshold && !s.CircuitOpen(now) {
		until := now.Add(b.CoolDown)
		release := until.Add(-b.Interval)
		s.Failures, s.OpenUntil, s.ReleaseAt, s.UpdatedAt = 0, &until, &release, now
		return s, n, true
	}
	if n == s.Failures {
		return s, 0, false
	}
	s.Failures, s.UpdatedAt = n, now
	return s, 0, true
}

// Release is what may go of the system's held callouts at now: n of them,
// at one per interval (0: all, up to most), counting at most window back
// so that an idle system saves up no burst. closed reports a circuit whose
// cool-down ran out, which closes now. A held system releases nothing.
func (s SystemState) Release(now time.Time, interval, window time.Duration, most int) (next SystemState, n int, closed bool) {
	if s.Held(now) {
		return s, 0, false
	}
	if s.OpenUntil != nil {
		s.OpenUntil, s.UpdatedAt, closed = nil, now, true
	}
	if interval <= 0 {
		return s, most, closed
	}
	from := now.Add(-max(interval, window))
	if s.ReleaseAt != nil && s.ReleaseAt.After(from) {
		from = *s.ReleaseAt
	}
	n = min(int(now.Sub(from)/interval), most)
	if n <= 0 {
		return s, 0, closed
	}
	at := from.Add(time.Duration(n) * interval)
	s.ReleaseAt = &at
	return s, n, closed
}
