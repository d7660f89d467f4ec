package entstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/batonhq/baton/ent/migrate"
)

// References the ent schema does not declare as edges.
var extraReferences = []struct{ table, column, refTable string }{
	{"events", "order_id", "orders"},
	{"events", "plan_id", "plans"},
	{"events", "step_id", "steps"},
}

// CheckIntegrity reports every reference that points at no row: for each
// relation of the schema (the foreign keys PostgreSQL does not enforce;
// see migrate), how many rows refer to a missing one. No problems: nil.
func (s *Store) CheckIntegrity(ctx context.Context) ([]string, error) {
	return checkIntegrity(ctx, s.rdb)
}

// CheckURL runs CheckIntegrity on the database at rawURL without opening
// a Store (no migration): tests run it on every database they used. A
// database without Baton's tables has no problems; one that cannot be
// read is an error.
func CheckURL(ctx context.Context, rawURL string) ([]string, error) {
	var db *sql.DB
	var err error
	exists := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'steps'`
	if path, ok := sqlitePath(rawURL); ok {
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	} else if isPostgres(rawURL) {
		u, q, perr := postgresURL(rawURL)
		if perr != nil {
			return nil, perr
		}
		u.RawQuery = q.Encode()
		db, err = sql.Open("postgres", u.String())
		exists = `SELECT count(*) FROM (SELECT to_regclass('steps') AS t) x WHERE t IS NOT NULL`
	} else {
		return nil, fmt.Errorf("check %q: not a sqlite or postgres URL", rawURL)
	}
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return nil, fmt.Errorf("check %s: %w", rawURL, err)
	}
	if n == 0 {
		return nil, nil // no schema (the test never opened a store)
	}
	return checkIntegrity(ctx, db)
}

func checkIntegrity(ctx context.Context, db *sql.DB) ([]string, error) {
	type ref struct{ table, column, refTable, refColumn string }
	var refs []ref
	for _, t := range migrate.Tables {
		for _, fk := range t.ForeignKeys {
			for i, c := range fk.Columns {
				refs = append(refs, ref{t.Name, c.Name, fk.RefTable.Name, fk.RefColumns[i].Name})
			}
		}
	}
	for _, r := range extraReferences {
		refs = append(refs, ref{r.table, r.column, r.refTable, "id"})
	}
	var problems []string
	var errs []error
	for _, r := range refs {
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM %[1]s c WHERE c.%[2]s IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM %[3]s r WHERE r.%[4]s = c.%[2]s)`, r.table, r.column, r.refTable, r.refColumn)
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			errs = append(errs, fmt.Errorf("check %s.%s: %w", r.table, r.column, err))
			continue
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("%d rows of %s.%s refer to no %s", n, r.table, r.column, r.refTable))
		}
	}
	return problems, errors.Join(errs...)
}
