package entstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
)

func openSQLite(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "b.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func accounts(t *testing.T, s *Store, ids ...string) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	for _, id := range ids {
		var n int
		if err := s.DB().QueryRow(`SELECT count(*) FROM accounts WHERE external_id = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		found[id] = n > 0
	}
	return found
}

// A write that comes after Close fails at once; it does not wait forever
// for a writer that is gone.
func TestWriteAfterClose(t *testing.T) {
	s := openSQLite(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Write(context.Background(), func(engine.Tx) error { return nil })
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errStoreClosed) {
			t.Errorf("Write after Close: %v; want %v", err, errStoreClosed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write after Close did not return")
	}
}

// A write that panics fails alone, with an INTERNAL error, and undoes what
// it wrote; the writes grouped with it commit, and the store goes on.
func TestPanicInWriteIsItsOwnError(t *testing.T) {
	s := openSQLite(t)
	defer s.Close()
	ctx := context.Background()
	ids := []string{"ok-1", "boom", "ok-2", "ok-3"}
	errs := enginetest.WriteEach(ctx, s, ids, func(tx engine.Tx, id string) error {
		if _, err := tx.EnsureAccount(ctx, id); err != nil {
			return err
		}
		if id == "boom" {
			panic("boom")
		}
		return nil
	})()
	for i, id := range ids {
		if id == "boom" {
			if !engine.IsCode(errs[i], engine.CodeInternal) || !strings.Contains(errs[i].Error(), "boom") {
				t.Errorf("the panicking write: %v; want an INTERNAL error naming the panic", errs[i])
			}
		} else if errs[i] != nil {
			t.Errorf("write %s: %v", id, errs[i])
		}
	}
	want := map[string]bool{"ok-1": true, "boom": false, "ok-2": true, "ok-3": true}
	if got := accounts(t, s, ids...); !mapsEqual(got, want) {
		t.Errorf("accounts after the writes: %v; want %v", got, want)
	}
	if _, err := s.Write(ctx, func(tx engine.Tx) error { _, err := tx.EnsureAccount(ctx, "after"); return err }); err != nil {
		t.Errorf("a write after the panic: %v", err)
	}
}

// A write whose caller gives up while its statements run completes: its
// statements do not end with the caller's context, which would abort the
// transaction it shares with other writes (SQLite's interrupt rolls back
// the whole transaction; lib/pq drops the connection).
func TestCancelledCallerDoesNotAbortTheGroup(t *testing.T) {
	s := openSQLite(t)
	defer s.Close()
	bg := context.Background()
	ctx, cancel := context.WithCancel(bg)
	_, err := s.Write(ctx, func(tx engine.Tx) error {
		if _, err := tx.EnsureAccount(ctx, "first"); err != nil {
			return err
		}
		cancel() // the caller is gone; the write's next statements still run
		_, err := tx.EnsureAccount(ctx, "second")
		return err
	})
	_, otherErr := s.Write(bg, func(tx engine.Tx) error { _, err := tx.EnsureAccount(bg, "other"); return err })
	if err != nil {
		t.Errorf("write whose context ended mid-way: %v", err)
	}
	if otherErr != nil {
		t.Errorf("the next write: %v", otherErr)
	}
	want := map[string]bool{"first": true, "second": true, "other": true}
	if got := accounts(t, s, "first", "second", "other"); !mapsEqual(got, want) {
		t.Errorf("accounts: %v; want %v", got, want)
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
