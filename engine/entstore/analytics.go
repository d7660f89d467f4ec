package entstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/batonhq/baton/engine"
)

// Analytics reads finished work by its finishing time, through partial
// indexes on orders.completed_at and steps.completed_at, an index on
// attempts.finished_at and a partial index of FALLOUT events by order
// (ent/schema): the cost is that of the rows in the range, not of the
// tables, and the transitions that write them run no extra statement.
// The rows come to Go, which buckets them and takes percentiles, so that
// both databases give the same answers.

// stepRan is the predicate of a step that ran or that a person dealt
// with: COMPLETED, or SKIPPED by skipStep (which requires a note; a step
// skipped because its condition was false has none).
const stepRan = `(s.status = 'COMPLETED' OR (s.status = 'SKIPPED' AND s.note IS NOT NULL))`

// byPerson is the predicate of a step a person did or forced: a manual
// task, one completed by hand or skipped (both set the note; so does
// completeTask), one retried by an operator (attempt_base is the attempt
// count at the retry, and a retried step has had an attempt), or a pause
// resumed by hand (output.resumedBy).
const byPerson = `(s.type = 'MANUAL_TASK' OR s.note IS NOT NULL OR s.attempt_base > 0
	OR (s.type = 'PAUSE' AND s.output ->> 'resumedBy' IS NOT NULL))`

// groupColumn is the steps column of a dimension read from the step row.
func groupColumn(g engine.AnalyticsGroup) string {
	switch g {
	case engine.GroupScenario:
		return "s.scenario"
	case engine.GroupQueue:
		return "s.queue"
	case engine.GroupSystem:
		return "s.system"
	}
	return ""
}

// AnalyticsFacts implements engine.Store.
func (s *Store) AnalyticsFacts(ctx context.Context, q engine.AnalyticsQuery) (*engine.AnalyticsFacts, error) {
	args := []any{q.From.UTC(), q.To.UTC()}
	orderScope, stepJoin := "", ""
	if q.Accounts != nil {
		args = append(args, s.d.strs(q.Accounts))
		orderScope = " AND o.account_id {strs $3}"
		stepJoin = " JOIN orders o ON o.id = s.order_id" + orderScope
	}
	out := &engine.AnalyticsFacts{}
	var err error
	if out.Orders, err = s.orderFacts(ctx, q, orderScope, args); err != nil {
		return nil, fmt.Errorf("analytics orders: %w", err)
	}
	if out.Steps, err = s.stepFacts(ctx, q, stepJoin, args); err != nil {
		return nil, fmt.Errorf("analytics steps: %w", err)
	}
	if out.Systems, err = s.systemFacts(ctx, stepJoin, args); err != nil {
		return nil, fmt.Errorf("analytics systems: %w", err)
	}
	return out, nil
}

func (s *Store) orderFacts(ctx context.Context, q engine.AnalyticsQuery, scope string, args []any) ([]engine.OrderFact, error) {
	completed := `FROM orders o WHERE o.status = 'COMPLETED' AND o.completed_at >= $1 AND o.completed_at < $2` + scope
	rows, err := s.query(ctx, `SELECT o.id, o.created_at, o.completed_at `+completed+` ORDER BY o.id`, args...)
	if err != nil {
		return nil, err
	}
	var facts []engine.OrderFact
	at := map[int]int{}
	for rows.Next() {
		var f engine.OrderFact
		var created, done timeScan
		if err := rows.Scan(&f.ID, &created, &done); err != nil {
			rows.Close()
			return nil, err
		}
		f.CreatedAt, f.CompletedAt = created.t, done.t
		at[f.ID] = len(facts)
		facts = append(facts, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(facts) == 0 {
		return nil, nil
	}
	fell, err := s.pairs(ctx, `SELECT DISTINCT o.id, '' `+strings.Replace(completed, "FROM orders o",
		`FROM orders o JOIN events e ON e.order_id = o.id AND e."to" = 'FALLOUT'`, 1), args)
	if err != nil {
		return nil, err
	}
	for _, p := range fell {
		facts[at[p.id]].FellOut = true
	}
	var groups string
	switch q.GroupBy {
	case engine.GroupNone:
		return facts, nil
	case engine.GroupProduct:
		groups = `SELECT DISTINCT o.id, l.product_code ` + strings.Replace(completed, "FROM orders o",
			`FROM orders o JOIN order_lines l ON l.order_id = o.id AND l.status <> 'REMOVED'`, 1)
	default:
		col := groupColumn(q.GroupBy)
		groups = `SELECT DISTINCT o.id, ` + col + " " + strings.Replace(completed, "FROM orders o",
			`FROM orders o JOIN steps s ON s.order_id = o.id AND `+col+` IS NOT NULL AND `+stepRan, 1)
	}
	ps, err := s.pairs(ctx, groups+` ORDER BY 1, 2`, args)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		f := &facts[at[p.id]]
		f.Groups = append(f.Groups, p.value)
	}
	return facts, nil
}

type idValue struct {
	id    int
	value string
}

func (s *Store) pairs(ctx context.Context, q string, args []any) ([]idValue, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []idValue
	for rows.Next() {
		var p idValue
		if err := rows.Scan(&p.id, strScan{&p.value}); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *Store) stepFacts(ctx context.Context, q engine.AnalyticsQuery, join string, args []any) ([]engine.StepFact, error) {
	group := "NULL"
	if col := groupColumn(q.GroupBy); col != "" {
		group = col
	}
	finished := ` FROM steps s` + join + ` WHERE s.completed_at >= $1 AND s.completed_at < $2 AND ` + stepRan
	rows, err := s.query(ctx, `SELECT s.name, s.type, s.status, s.jeopardy, s.ready_at, s.completed_at,
		CASE WHEN `+byPerson+` THEN 1 ELSE 0 END, COALESCE(s.order_id, 0), `+group+finished, args...)
	if err != nil {
		return nil, err
	}
	var facts []engine.StepFact
	var orders []int
	for rows.Next() {
		var f engine.StepFact
		var typ, status, jeopardy, g string
		var ready, done timeScan
		var person, order int
		if err := rows.Scan(&f.Name, &typ, &status, &jeopardy, &ready, &done, &person, &order, strScan{&g}); err != nil {
			rows.Close()
			return nil, err
		}
		f.Type, f.Status, f.Jeopardy = engine.StepType(typ), engine.StepStatus(status), engine.Jeopardy(jeopardy)
		f.ReadyAt, f.CompletedAt, f.ByPerson = ready.ptr(), done.t, person == 1
		if g != "" {
			f.Groups = []string{g}
		}
		facts = append(facts, f)
		orders = append(orders, order)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if q.GroupBy != engine.GroupProduct || len(facts) == 0 {
		return facts, nil
	}
	// A step counts for each product of its order.
	ps, err := s.pairs(ctx, `SELECT DISTINCT l.order_id, l.product_code FROM order_lines l
		WHERE l.status <> 'REMOVED' AND l.order_id IN (SELECT s.order_id`+finished+`) ORDER BY 1, 2`, args)
	if err != nil {
		return nil, err
	}
	products := map[int][]string{}
	for _, p := range ps {
		products[p.id] = append(products[p.id], p.value)
	}
	for i := range facts {
		facts[i].Groups = products[orders[i]]
	}
	return facts, nil
}

func (s *Store) systemFacts(ctx context.Context, join string, args []any) ([]engine.SystemFact, error) {
	// The UTC day, as text: both store times in UTC, and strftime reads
	// SQLite's text times in UTC whatever offset they carry.
	day := `strftime('%Y-%m-%d', a.finished_at)`
	if s.d.postgres {
		day = `to_char(a.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
	}
	rows, err := s.query(ctx, `SELECT s.system, `+day+`, COUNT(*), SUM(CASE WHEN a.outcome IN ('FAILED', 'LOST') THEN 1 ELSE 0 END)
		FROM attempts a JOIN steps s ON s.id = a.step_id`+join+`
		WHERE a.finished_at >= $1 AND a.finished_at < $2 AND s.system IS NOT NULL
		GROUP BY 1, 2 ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []engine.SystemFact
	for rows.Next() {
		var f engine.SystemFact
		var day string
		if err := rows.Scan(&f.System, &day, &f.Requests, &f.Errors); err != nil {
			return nil, err
		}
		if f.Day, err = time.Parse(dayKey, day); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// dayKey is how analytics_days names a day.
const dayKey = "2006-01-02"

// AnalyticsDays implements engine.Store.
func (s *Store) AnalyticsDays(ctx context.Context, dimension string, from, to time.Time) (map[time.Time][]byte, error) {
	rows, err := s.query(ctx, `SELECT day, data FROM analytics_days WHERE dimension = $1 AND day >= $2 AND day < $3`,
		dimension, from.UTC().Format(dayKey), to.UTC().Format(dayKey))
	if err != nil {
		return nil, fmt.Errorf("read analytics rollups: %w", err)
	}
	defer rows.Close()
	out := map[time.Time][]byte{}
	for rows.Next() {
		var day, data string
		if err := rows.Scan(&day, &data); err != nil {
			return nil, fmt.Errorf("read analytics rollups: %w", err)
		}
		d, err := time.Parse(dayKey, day)
		if err != nil {
			return nil, fmt.Errorf("read analytics rollups: %w", err)
		}
		out[d] = []byte(data)
	}
	return out, rows.Err()
}

// SaveAnalyticsDays implements engine.Store. It writes through the
// store's transactions (on SQLite the one writer connection is theirs).
func (s *Store) SaveAnalyticsDays(ctx context.Context, dimension string, days map[time.Time][]byte) error {
	keys := slices.SortedFunc(maps.Keys(days), time.Time.Compare)
	_, err := s.Write(ctx, func(tx engine.Tx) error {
		t := tx.(*txn)
		for rest := keys; len(rest) > 0; {
			chunk := rest[:min(len(rest), 100)]
			rest = rest[len(chunk):]
			var b strings.Builder
			b.WriteString("INSERT INTO analytics_days (dimension, day, data) VALUES ")
			args := []any{dimension}
			for i, d := range chunk {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "($1, $%d, $%d)", len(args)+1, len(args)+2)
				args = append(args, d.UTC().Format(dayKey), string(days[d]))
			}
			b.WriteString(" ON CONFLICT (dimension, day) DO NOTHING")
			if _, err := t.exec(ctx, b.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store analytics rollups: %w", err)
	}
	return nil
}
