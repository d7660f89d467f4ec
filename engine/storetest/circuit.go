package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

// circuitTests: the half-open circuit's columns (the opening count and the
// trial with its turn) and the row lock that lets one trial through.
var circuitTests = map[string]func(t *testing.T, b *bundle){
	"NewSystemHasNoTrial": func(t *testing.T, b *bundle) {
		b.write(t, func(tx engine.Tx) error {
			st, err := tx.LockSystem(b.ctx, "crm")
			if err == nil && (st.OpenCount != 0 || st.TrialStepID != 0 || st.TrialUntil != nil || st.Circuit(Epoch) != engine.CircuitClosed) {
				t.Errorf("LockSystem of a new system = %+v; want CLOSED, no opening counted, no trial", st)
			}
			return err
		})
	},
	"TrialRoundTrips": func(t *testing.T, b *bundle) {
		cooled, turn := Epoch.Add(-time.Second), Epoch.Add(30*time.Second)
		want := engine.SystemState{Name: "crm", Status: engine.SystemOnline, OpenUntil: &cooled, OpenCount: 3, TrialStepID: 41, TrialUntil: &turn,
			UpdatedAt: Epoch}
		b.write(t, func(tx engine.Tx) error {
			if _, err := tx.LockSystem(b.ctx, "crm"); err != nil {
				return err
			}
			return tx.SaveSystem(b.ctx, &want)
		})
		var got *engine.SystemState
		b.write(t, func(tx engine.Tx) (err error) {
			got, err = tx.LockSystem(b.ctx, "crm")
			return
		})
		sts, err := b.store.SystemStates(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []*engine.SystemState{got, sts["crm"]} {
			if st == nil || st.OpenCount != 3 || st.TrialStepID != 41 || st.TrialUntil == nil || !st.TrialUntil.Equal(turn) ||
				st.Circuit(Epoch) != engine.CircuitHalfOpen || !st.Held(Epoch) {
				t.Fatalf("system after SaveSystem = %+v; want HALF_OPEN, opened 3 times, step 41's trial until %v", st, turn)
			}
		}
		b.write(t, func(tx engine.Tx) error {
			closed := want
			closed.OpenUntil, closed.OpenCount, closed.TrialStepID, closed.TrialUntil = nil, 0, 0, nil
			return tx.SaveSystem(b.ctx, &closed)
		})
		if sts, err = b.store.SystemStates(b.ctx); err != nil || sts["crm"].OpenCount != 0 || sts["crm"].TrialStepID != 0 || sts["crm"].TrialUntil != nil {
			t.Fatalf("system after closing = %+v, %v; want no opening counted and no trial", sts["crm"], err)
		}
	},
	// Two transactions that each let a trial through if it is free, one
	// holding the row while the other asks: one trial.
	"OneTrialUnderTheLock": func(t *testing.T, b *bundle) {
		cooled := Epoch.Add(-time.Second)
		b.write(t, func(tx engine.Tx) error {
			st, err := tx.LockSystem(b.ctx, "crm")
			if err != nil {
				return err
			}
			st.OpenUntil, st.OpenCount = &cooled, 1
			return tx.SaveSystem(b.ctx, st)
		})
		take := func(step int, locked chan<- struct{}, hold <-chan struct{}) (bool, error) {
			took := false
			_, err := b.store.Write(b.ctx, func(tx engine.Tx) error {
				took = false
				st, err := tx.LockSystem(b.ctx, "crm")
				if err != nil {
					return err
				}
				if locked != nil {
					close(locked)
					<-hold
				}
				if !st.TrialFree(tx.Now()) {
					return nil
				}
				next := st.WithTrial(step, tx.Now().Add(time.Minute), tx.Now())
				took = true
				return tx.SaveSystem(b.ctx, &next)
			})
			return took, err
		}
		locked, hold := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		var tookA, tookB bool
		var errA, errB error
		wg.Add(2)
		go func() { defer wg.Done(); tookA, errA = take(1, locked, hold) }()
		<-locked
		go func() { defer wg.Done(); tookB, errB = take(2, nil, nil) }()
		// B asks while A holds the row (it waits for the lock, or for
		// the single writer), then A goes on.
		time.Sleep(50 * time.Millisecond)
		close(hold)
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatalf("writes: %v, %v", errA, errB)
		}
		if !tookA || tookB {
			t.Errorf("trial taken by A %v, by B %v; want A's alone (B saw it under the lock)", tookA, tookB)
		}
		sts, err := b.store.SystemStates(b.ctx)
		if err != nil || sts["crm"].TrialStepID != 1 || sts["crm"].TrialFree(Epoch) {
			t.Fatalf("system = %+v, %v; want step 1's trial under way", sts["crm"], err)
		}
	},
}
