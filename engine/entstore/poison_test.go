package entstore_test

// One writer's write that the database refuses must not fail the writes
// grouped with it (group commit, group.go), and its error must say that
// it was refused (engine.ErrRefused), so that the engine isolates the
// outcome at fault instead of retrying a batch that cannot pass.

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
)

func TestPoisonWriteFailsAlone(t *testing.T) {
	t.Parallel()
	type poison struct {
		name string
		// write is the bad write; want is in its error.
		write func(ctx context.Context, tx engine.Tx) error
		want  string
	}
	for _, be := range enginetest.Backends() {
		poisons := []poison{
			// The store's encoder refuses it, on both backends.
			{"a value JSON cannot hold", func(ctx context.Context, tx engine.Tx) error {
				return tx.MergeAttributes(ctx, map[int]map[string]any{1: {"x": math.NaN()}}, nil)
			}, "unsupported value: NaN"},
		}
		if be.Name == "postgres" {
			// What SQLite keeps and PostgreSQL refuses: a NUL in a text
			// column, in a write's own statement; and in an event, whose
			// insert is shared by the whole group at its end.
			poisons = append(poisons,
				poison{"a NUL in a text column", func(ctx context.Context, tx engine.Tx) error {
					_, err := tx.EnsureAccount(ctx, "bad\x00account")
					return err
				}, "invalid byte sequence"},
				poison{"a NUL in an event", func(ctx context.Context, tx engine.Tx) error {
					if _, err := tx.EnsureAccount(ctx, "bad-event"); err != nil {
						return err
					}
					tx.Emit(&engine.Event{Kind: engine.EventStepStatus, To: "RUNNING", Note: "bad\x00note"})
					return nil
				}, "invalid byte sequence"})
		}
		for _, p := range poisons {
			t.Run(be.Name+"/"+p.name, func(t *testing.T) {
				ctx := context.Background()
				// One writer loop: what queues while it is busy becomes one group.
				s, err := entstore.Open(ctx, be.URL(t), entstore.Options{Writers: 1, Logger: enginetest.Logger(t)})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				started, release := make(chan struct{}), make(chan struct{})
				busy := make(chan error, 1)
				go func() {
					_, err := s.Write(ctx, func(engine.Tx) error { close(started); <-release; return nil })
					busy <- err
				}()
				<-started
				ids := []string{"ok-1", "poison", "ok-2", "ok-3"}
				wait := enginetest.WriteEach(ctx, s, ids, func(tx engine.Tx, id string) error {
					if id == "poison" {
						return p.write(ctx, tx)
					}
					_, err := tx.EnsureAccount(ctx, id)
					tx.Emit(&engine.Event{Kind: engine.EventStepStatus, To: "RUNNING", Note: id})
					return err
				})
				enginetest.Eventually(t, 5*time.Second, func() bool { return s.QueuedWrites() == len(ids) },
					"%d writes queued; want %d", s.QueuedWrites(), len(ids))
				close(release)
				errs := wait()
				if err := <-busy; err != nil {
					t.Fatalf("the first write: %v", err)
				}

				for i, id := range ids {
					switch {
					case id != "poison" && errs[i] != nil:
						t.Errorf("write %s, grouped with the poison: %v", id, errs[i])
					case id == "poison" && (!errors.Is(errs[i], orchestrator.ErrRefused) || !strings.Contains(errText(errs[i]), p.want)):
						t.Errorf("the poisoned write: %v; want the database's refusal (%q), marked engine.ErrRefused", errs[i], p.want)
					}
				}
				for _, id := range []string{"ok-1", "ok-2", "ok-3", "bad-event"} {
					var n int
					if err := s.DB().QueryRow(`SELECT count(*) FROM accounts WHERE external_id = '` + id + `'`).Scan(&n); err != nil {
						t.Fatal(err)
					}
					want := 1
					if id == "bad-event" {
						want = 0 // the poisoned write is undone as a whole
					}
					if n != want {
						t.Errorf("account %s: %d rows; want %d", id, n, want)
					}
				}
				evs, err := s.EventsAfter(ctx, 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				var notes []string
				for _, e := range evs {
					notes = append(notes, e.Note)
				}
				if got := strings.Join(notes, " "); len(evs) != 3 || strings.Contains(got, "bad") {
					t.Errorf("events: %q; want one of each healthy write", got)
				}
			})
		}
	}
}

// errText is an error's message, or "" for none.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
