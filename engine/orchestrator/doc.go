// Package orchestrator runs orders: intake, operator actions, the kernel that moves
// steps, timers, the runner and its callouts and actions, and the hub that
// fans events out to subscribers. It is the only engine package with state.
package orchestrator
