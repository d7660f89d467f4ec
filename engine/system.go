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

// CircuitState is where a system's circuit breaker stands (the pattern of
// Nygard's Release It!, as in sony/gobreaker).
type CircuitState string

const (
	// CircuitClosed: callouts run; consecutive retryable failures are
	// counted, and the threshold opens the circuit.
	CircuitClosed CircuitState = "CLOSED"
	// CircuitOpen: the cool-down runs; callouts wait ON_HOLD.
	CircuitOpen CircuitState = "OPEN"
	// CircuitHalfOpen: the cool-down ran out and nothing has succeeded
	// since the circuit opened: one trial callout at a time may go, the
	// others wait ON_HOLD. The trial's success closes the circuit, its
	// failure opens it again.
	CircuitHalfOpen CircuitState = "HALF_OPEN"
)

// SystemState is a system's live state, shared by all replicas.
type SystemState struct {
	Name      string
	Status    SystemStatus
	Failures  int        // consecutive retryable callout failures
	OpenUntil *time.Time // the circuit's cool-down ends then (nil: closed)
	ReleaseAt *time.Time // held callouts are released at the rate from here
	// OpenCount is how many times the circuit opened in a row without a
	// success in between (0 while closed); it grows the cool-down.
	OpenCount int
	// TrialStepID is the callout let through as the half-open trial (0:
	// none, or one being let through in the transaction that holds the
	// row, which names it before it commits).
	TrialStepID int
	// TrialUntil is, once the circuit was seen HALF_OPEN (nil before),
	// when the current trial's turn runs out (its lease): until then no
	// other callout may try; from then on one may.
	TrialUntil *time.Time
	ChangedBy  string
	UpdatedAt  time.Time
}

// Circuit is the state of the system's circuit breaker at now: OPEN
// during the cool-down, HALF_OPEN after it until a success (or the
// operator) closes it, CLOSED otherwise.
func (s *SystemState) Circuit(now time.Time) CircuitState {
	switch {
	case s == nil || s.OpenUntil == nil:
		return CircuitClosed
	case now.Before(*s.OpenUntil):
		return CircuitOpen
	default:
		return CircuitHalfOpen
	}
}

// Held reports whether callouts to the system must wait at now: it is
// OFFLINE, its circuit is OPEN, or it is HALF_OPEN with a trial under way.
// A HALF_OPEN circuit whose trial is free (TrialFree) lets exactly one
// callout go, which takes the trial.
func (s *SystemState) Held(now time.Time) bool {
	if s == nil {
		return false
	}
	switch s.Circuit(now) {
	case CircuitOpen:
		return true
	case CircuitHalfOpen:
		if !s.TrialFree(now) {
			return true
		}
	}
	return s.Status == SystemOffline
}

// CircuitOpen reports whether the system's circuit breaker is OPEN at now
// (it opened after consecutive failures and its cool-down has not
// passed).
func (s *SystemState) CircuitOpen(now time.Time) bool {
	return s.Circuit(now) == CircuitOpen
}

// TrialFree reports whether a trial callout may go at now: the system is
// ONLINE, its circuit HALF_OPEN and no trial's turn is running.
func (s *SystemState) TrialFree(now time.Time) bool {
	return s != nil && s.Status == SystemOnline && s.Circuit(now) == CircuitHalfOpen &&
		(s.TrialUntil == nil || !now.Before(*s.TrialUntil))
}

// TrialGranted reports a trial let through by the transaction that holds
// the row, not yet named (WithTrial with step 0).
func (s *SystemState) TrialGranted(now time.Time) bool {
	return s != nil && s.Circuit(now) == CircuitHalfOpen && s.TrialStepID == 0 &&
		s.TrialUntil != nil && now.Before(*s.TrialUntil)
}

// HalfOpened is the state once a circuit whose cool-down ran out is seen
// HALF_OPEN: a trial may go from the end of the cool-down on. announced
// reports the change (false: not HALF_OPEN, or seen already).
func (s SystemState) HalfOpened(now time.Time) (next SystemState, announced bool) {
	if s.Circuit(now) != CircuitHalfOpen || s.TrialUntil != nil {
		return s, false
	}
	from := *s.OpenUntil
	s.TrialStepID, s.TrialUntil, s.UpdatedAt = 0, &from, now
	return s, true
}

// WithTrial is the state after callout stepID (0: to be named in the same
// transaction) is let through as the trial at now, its turn running until
// until. It does not check TrialFree.
func (s SystemState) WithTrial(stepID int, until, now time.Time) SystemState {
	s, _ = s.HalfOpened(now)
	s.TrialStepID, s.TrialUntil, s.UpdatedAt = stepID, &until, now
	return s
}

// WithoutTrial gives back a trial that was let through but did not go
// (the callout was not claimed): another may go at once.
func (s SystemState) WithoutTrial(now time.Time) SystemState {
	s.TrialStepID, s.TrialUntil, s.UpdatedAt = 0, &now, now
	return s
}

// Switched is the state after an operator sets status at now. Coming
// back ONLINE clears the failure count and the circuit (whatever its
// state), and restarts the release of held callouts: one at once, then
// one per interval.
func (s SystemState) Switched(status SystemStatus, actor string, now time.Time, interval time.Duration) SystemState {
	s.Status, s.ChangedBy, s.UpdatedAt = status, actor, now
	if status == SystemOnline {
		release := now.Add(-interval)
		s.Failures, s.OpenUntil, s.ReleaseAt = 0, nil, &release
		s.OpenCount, s.TrialStepID, s.TrialUntil = 0, 0, nil
	}
	return s
}

// Breaker is a system's circuit breaker: after Threshold consecutive
// retryable failures (0: no breaker) its callouts are held for CoolDown,
// then one trial callout goes; released one per Interval once it closed.
type Breaker struct {
	Threshold int
	CoolDown  time.Duration
	Interval  time.Duration
}

// MaxCoolDownFactor caps the growth of the cool-down (see
// Breaker.CoolDownFor).
const MaxCoolDownFactor = 10

// CoolDownFor is the cool-down of the openCount-th opening in a row
// without a success between: CoolDown × 2^(openCount−1), at most
// MaxCoolDownFactor × CoolDown. A trial that fails thus waits 2, 4, 8,
// then 10 cool-downs.
func (b Breaker) CoolDownFor(openCount int) time.Duration {
	d, limit := b.CoolDown, MaxCoolDownFactor*b.CoolDown
	for i := 1; i < openCount && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// TrialResult is what a transaction learnt of the half-open trial call.
type TrialResult int

const (
	// NoTrial: the trial's outcome is not among the transaction's.
	NoTrial TrialResult = iota
	// TrialSucceeded: the system answered the trial (a success, or a
	// refusal of the request, which is no failure of the system).
	TrialSucceeded
	// TrialFailed: the trial failed as a retryable failure.
	TrialFailed
)

// Outcomes are one transaction's callout outcomes for a system: Failures
// retryable failures and OK whether any call succeeded, both besides the
// half-open trial, whose outcome is Trial.
type Outcomes struct {
	Failures int
	OK       bool
	Trial    TrialResult
}

// CircuitChange is a change of a circuit's state (From empty: none).
// After is the failure count that opened a closed circuit.
type CircuitChange struct {
	From, To CircuitState
	After    int
}

// AfterOutcomes is the state after one transaction's callout outcomes for
// the system. The count of consecutive failures is kept in every state (a
// success resets it before the failures add to it). A CLOSED circuit
// whose count reaches the breaker's threshold opens, for CoolDown, and the
// count starts again from zero. While OPEN or HALF_OPEN only the trial
// decides (outcomes of calls that were in flight before the circuit
// opened are counted, nothing more): a HALF_OPEN circuit whose trial
// succeeded closes (the open count back to 0), one whose trial failed
// opens again at once for CoolDownFor(the next open count). changed
// reports whether anything must be written.
func (s SystemState) AfterOutcomes(o Outcomes, b Breaker, now time.Time) (next SystemState, ch CircuitChange, changed bool) {
	n := s.Failures + o.Failures
	if o.OK {
		n = o.Failures
	}
	state := s.Circuit(now)
	if state == CircuitHalfOpen && o.Trial != NoTrial {
		if o.Trial == TrialSucceeded {
			s.Failures, s.OpenUntil, s.OpenCount, s.TrialStepID, s.TrialUntil, s.UpdatedAt = o.Failures, nil, 0, 0, nil, now
			return s, CircuitChange{From: CircuitHalfOpen, To: CircuitClosed}, true
		}
		s = s.opened(b, now)
		return s, CircuitChange{From: CircuitHalfOpen, To: CircuitOpen}, true
	}
	if state == CircuitClosed && b.Threshold > 0 && n >= b.Threshold {
		s = s.opened(b, now)
		return s, CircuitChange{From: CircuitClosed, To: CircuitOpen, After: n}, true
	}
	if n == s.Failures {
		return s, CircuitChange{}, false
	}
	s.Failures, s.UpdatedAt = n, now
	return s, CircuitChange{}, true
}

// opened is the state of a circuit that opens at now: one more opening
// in a row, its cool-down grown with the count, held callouts released
// from one interval before its end.
func (s SystemState) opened(b Breaker, now time.Time) SystemState {
	s.OpenCount++
	until := now.Add(b.CoolDownFor(s.OpenCount))
	release := until.Add(-b.Interval)
	s.Failures, s.OpenUntil, s.ReleaseAt, s.TrialStepID, s.TrialUntil, s.UpdatedAt = 0, &until, &release, 0, nil, now
	return s
}

// Release is what may go of the system's held callouts at now: n of them,
// at one per interval (0: all, up to most), counting at most window back
// so that an idle system saves up no burst. A HALF_OPEN circuit whose
// trial is free lets one go, the trial, which counts as a release; a
// held system (OFFLINE, OPEN, a trial under way) releases nothing.
func (s SystemState) Release(now time.Time, interval, window time.Duration, most int) (next SystemState, n int) {
	if s.Held(now) || most <= 0 {
		return s, 0
	}
	if s.Circuit(now) == CircuitHalfOpen {
		if interval > 0 {
			s.ReleaseAt = &now
		}
		return s, 1
	}
	if interval <= 0 {
		return s, most
	}
	from := now.Add(-max(interval, window))
	if s.ReleaseAt != nil && s.ReleaseAt.After(from) {
		from = *s.ReleaseAt
	}
	n = min(int(now.Sub(from)/interval), most)
	if n <= 0 {
		return s, 0
	}
	at := from.Add(time.Duration(n) * interval)
	s.ReleaseAt = &at
	return s, n
}
