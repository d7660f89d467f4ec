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
