package entstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
)

// idOrder is a one-line order of n steps: its insert takes ids from
// orders, order_lines, fulfillment_lines, plans, step_groups and steps.
func idOrder(externalID string, accountRef, catalogID, n int) *engine.NewOrder {
	item := &engine.Item{Key: "L1/server", ProductCode: "SRV", Rule: "server", Scope: engine.DecomposeLine, Quantity: 1,
		Sources: []string{"L1"}, BundleKey: "L1"}
	grp := &engine.PlannedGroup{Name: "delivery", Scenario: "provide"}
	var steps []*engine.NewStep
	for i := range n {
		steps = append(steps, &engine.NewStep{Name: fmt.Sprint("provision", i), Scenario: "provide", Type: engine.AutoTask,
			Scope: engine.ScopeItem, InstanceKey: "L1/server", BundleKey: "L1", Group: grp, Item: item, Status: engine.StepReady})
	}
	return &engine.NewOrder{
		ExternalID: externalID, AccountID: "acme", AccountRef: accountRef, InputHash: "h-" + externalID, CatalogID: catalogID,
		Lines: []*engine.DecomposedLine{{LineInput: engine.LineInput{ID: "L1", ProductCode: "SRV", Quantity: 1, Action: engine.ActionAdd},
			Status: engine.LineDecomposed}},
		Items: []*engine.Item{item},
		Plan: &engine.NewPlan{AccountRef: accountRef, AccountID: "acme", Usage: engine.UsageSales, Type: "order", CatalogID: catalogID,
			Graph: &engine.PlanRows{Groups: []*engine.PlannedGroup{grp}, Steps: steps}},
	}
}

var errUndo = errors.New("undo this write")

// Ids come from blocks reserved ahead (idblocks.go). A reservation undone
// with its write — the write failing alone, or in a group where its
// savepoint is rolled back — is never handed out again, so that neither a
// later reservation in this process, nor one by another process on the
// same file, nor this process after a restart gives an id twice.
func TestIDBlocksSurviveRollbacks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.db")
	open := func() *Store {
		s, err := Open(ctx, "sqlite://"+path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	var acct, cat int
	if _, err := s.Write(ctx, func(tx engine.Tx) error {
		c, err := tx.InsertCatalog(ctx, "catalog", "sum")
		if err != nil {
			return err
		}
		cat = c.ID
		acct, err = tx.EnsureAccount(ctx, "acme")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	n := 0
	// write inserts an order, and with fail returns an error after it.
	write := func(st *Store, id string, fail bool, steps int) error {
		_, err := st.Write(ctx, func(tx engine.Tx) error {
			if _, err := tx.InsertOrder(ctx, idOrder(id, acct, cat, steps)); err != nil {
				return err
			}
			if fail {
				return errUndo
			}
			return nil
		})
		if fail && errors.Is(err, errUndo) {
			return nil
		}
		return err
	}
	insert := func(st *Store, fail bool) {
		t.Helper()
		n++
		if err := write(st, fmt.Sprint("o", n), fail, 1); err != nil {
			t.Fatalf("write o%d (fail %v): %v", n, fail, err)
		}
	}

	// A write failing alone: its whole transaction, reservation included,
	// rolls back.
	insert(s, true)
	insert(s, false)

	// A group in which the first write reserves and fails (its savepoint
	// rolls back) and the others go on: hold the writer with a write of
	// its own until the group is queued behind it. The failing write's
	// plan is larger than a block, so that it must reserve.
	hold, held := make(chan struct{}), make(chan struct{})
	go s.Write(ctx, func(engine.Tx) error { close(held); <-hold; return nil })
	<-held
	errs := make(chan error, 3)
	for i := range 3 {
		go func() { errs <- write(s, fmt.Sprint("g", i), i == 0, []int{idBlock + 10, 1, 1}[i]) }()
	}
	for len(s.queue) < 3 {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("a write of the group: %v", err)
		}
	}
	s.idBlocks.mu.Lock()
	left := len(s.idBlocks.pool)
	s.idBlocks.mu.Unlock()
	if left == 0 {
		t.Fatal("no ids left reserved after the group: blocks are not being kept")
	}

	// Another process on the same file, and then a restart: both reserve
	// from sqlite_sequence, past every block this store holds.
	other := open()
	for range 3 {
		insert(other, false)
		insert(s, false)
	}
	other.Close()
	s.Close()
	s = open()
	defer s.Close()
	insert(s, false)

	for _, table := range []string{"orders", "order_lines", "fulfillment_lines", "plans", "step_groups", "steps"} {
		var rows, distinct, seqOK int
		if err := s.DB().QueryRow(`SELECT count(*), count(DISTINCT id), (SELECT seq FROM sqlite_sequence WHERE name = ?1) >= max(id) FROM `+table, table).
			Scan(&rows, &distinct, &seqOK); err != nil {
			t.Fatal(err)
		}
		if rows != 10 || distinct != rows || seqOK != 1 {
			t.Errorf("%s: %d rows, %d distinct ids, sequence past the last id: %v; want 10 orders' rows with distinct ids below the sequence", table, rows, distinct, seqOK == 1)
		}
	}
}

// A PostgreSQL database created with foreign keys keeps them, and then a
// large plan is written in one statement, not by COPY ahead of the rows
// it references.
func TestLargePlanWithForeignKeys(t *testing.T) {
	enginetest.RequirePostgres(t)
	ctx := context.Background()
	url := enginetest.PostgresURL(t)
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.foreignKeys {
		t.Fatal("a fresh PostgreSQL database has foreign keys")
	}
	for _, q := range []string{
		`ALTER TABLE steps ADD CONSTRAINT steps_plan_fk FOREIGN KEY (plan_id) REFERENCES plans (id)`,
		`ALTER TABLE step_dependencies ADD CONSTRAINT deps_step_fk FOREIGN KEY (step_id) REFERENCES steps (id)`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if s, err = Open(ctx, url, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.foreignKeys {
		t.Fatal("foreign keys on steps not seen")
	}
	var acct, cat int
	if _, err := s.Write(ctx, func(tx engine.Tx) error {
		c, err := tx.InsertCatalog(ctx, "catalog", "sum")
		if err != nil {
			return err
		}
		cat = c.ID
		acct, err = tx.EnsureAccount(ctx, "acme")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	o := idOrder("large", acct, cat, copyRows+10)
	for i, st := range o.Plan.Graph.Steps[1:] {
		st.Status, st.Pending = engine.StepPending, 1
		o.Plan.Graph.Deps = append(o.Plan.Graph.Deps, &engine.NewDep{Step: st, Prereq: o.Plan.Graph.Steps[i]})
	}
	if _, err := s.Write(ctx, func(tx engine.Tx) error { _, err := tx.InsertOrder(ctx, o); return err }); err != nil {
		t.Fatalf("insert a plan of %d steps with foreign keys: %v", copyRows+10, err)
	}
}
