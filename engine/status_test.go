package engine_test

import (
	"fmt"
	"testing"

	"github.com/batonhq/baton/engine"
)

func TestCanMove(t *testing.T) {
	cases := []struct {
		from, to engine.StepStatus
		want     bool
	}{
		{engine.StepPending, engine.StepReady, true},
		{engine.StepPending, engine.StepSkipped, true},
		{engine.StepPending, engine.StepCancelled, true},
		{engine.StepReady, engine.StepRunning, true},
		{engine.StepReady, engine.StepCompleted, true}, // a milestone
		{engine.StepReady, engine.StepWaiting, true},   // a manual task or pause
		{engine.StepRunning, engine.StepCompleted, true},
		{engine.StepRunning, engine.StepFailed, true},
		{engine.StepRunning, engine.StepReady, true}, // expired lease
		{engine.StepWaiting, engine.StepCompleted, true},
		{engine.StepFailed, engine.StepReady, true},
		{engine.StepFallout, engine.StepReady, true},     // retrySteps
		{engine.StepFallout, engine.StepCompleted, true}, // markStepComplete
		{engine.StepOnHold, engine.StepReady, true},
		{engine.StepPending, engine.StepRunning, false},
		{engine.StepPending, engine.StepCompleted, false},
		{engine.StepReady, engine.StepPending, false},
		{engine.StepReady, engine.StepReady, false},
		{engine.StepRunning, engine.StepPending, false},
		{engine.StepWaiting, engine.StepRunning, false},
		{engine.StepFailed, engine.StepRunning, false},
		{engine.StepFallout, engine.StepRunning, false},
		{engine.StepCompleted, engine.StepReady, false},
		{engine.StepCompleted, engine.StepFallout, false},
		{engine.StepSkipped, engine.StepReady, false},
		{engine.StepCancelled, engine.StepReady, false},
		{engine.StepStatus("BOGUS"), engine.StepReady, false},
		{engine.StepReady, engine.StepStatus("BOGUS"), false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s→%s", tc.from, tc.to), func(t *testing.T) {
			if got := engine.CanMove(tc.from, tc.to); got != tc.want {
				t.Errorf("CanMove(%s, %s) = %v; want %v", tc.from, tc.to, got, tc.want)
			}
			err := engine.CheckMove(7, tc.from, tc.to)
			if tc.want != (err == nil) || (err != nil && !engine.IsCode(err, engine.CodeInvalidState)) {
				t.Errorf("checkMove(7, %s, %s) = %v; want nil=%v and INVALID_STATE otherwise", tc.from, tc.to, err, tc.want)
			}
		})
	}
	t.Run("terminal statuses never move", func(t *testing.T) {
		for _, from := range engine.StepStatuses {
			if !from.Terminal() {
				continue
			}
			for _, to := range engine.StepStatuses {
				if engine.CanMove(from, to) {
					t.Errorf("CanMove(%s, %s) = true; want false: %s is terminal", from, to, from)
				}
			}
		}
	})
	t.Run("every non-terminal status can be cancelled", func(t *testing.T) {
		for _, from := range engine.StepStatuses {
			if !from.Terminal() && !engine.CanMove(from, engine.StepCancelled) {
				t.Errorf("CanMove(%s, CANCELLED) = false; want true", from)
			}
		}
	})
}
