package entstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/batonhq/baton/engine"
)

const apiKeyColumns = `id, name, hash, roles, accounts, queues, created_by, created_at, revoked_at, revoked_by`

// InsertAPIKey implements engine.Tx.
func (t *txn) InsertAPIKey(ctx context.Context, k *engine.APIKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = t.now
	}
	ids, err := t.insertReturningIDs(ctx, "api_keys", []string{"name", "hash", "roles", "accounts", "queues", "created_by", "created_at"},
		[][]any{{k.Name, k.Hash, jsonStrings(nonNil(k.Roles)), jsonStrings(nonNil(k.Accounts)), jsonStrings(nonNil(k.Queues)), k.CreatedBy, k.CreatedAt}})
	if err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	k.ID = int(ids[0])
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// RevokeAPIKey implements engine.Tx.
func (t *txn) RevokeAPIKey(ctx context.Context, id int, by string) (*engine.APIKey, error) {
	if _, err := t.exec(ctx, `UPDATE api_keys SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL`, t.now, by, id); err != nil {
		return nil, fmt.Errorf("revoke api key %d: %w", id, err)
	}
	rows, err := t.query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("read api key %d: %w", id, err)
	}
	k, err := scanAPIKey(rows)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, engine.Errorf(engine.CodeNotFound, "API key %d not found", id)
	}
	return k, nil
}

// APIKeyByHash implements engine.Store.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*engine.APIKey, error) {
	rows, err := s.query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash)
	if err != nil {
		return nil, fmt.Errorf("read api key: %w", err)
	}
	return scanAPIKey(rows)
}

// scanAPIKey reads at most one key and closes rows.
func scanAPIKey(rows *sql.Rows) (*engine.APIKey, error) {
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	var k engine.APIKey
	var roles, accounts, queues []byte
	var created, revoked timeScan
	if err := rows.Scan(&k.ID, &k.Name, &k.Hash, &roles, &accounts, &queues, &k.CreatedBy, &created, &revoked, strScan{&k.RevokedBy}); err != nil {
		return nil, fmt.Errorf("scan api key: %w", err)
	}
	k.CreatedAt = created.t
	if revoked.valid {
		k.RevokedAt = &revoked.t
	}
	for _, f := range []struct {
		b   []byte
		out *[]string
	}{{roles, &k.Roles}, {accounts, &k.Accounts}, {queues, &k.Queues}} {
		if len(f.b) > 0 {
			if err := json.Unmarshal(f.b, f.out); err != nil {
				return nil, fmt.Errorf("decode api key %d: %w", k.ID, err)
			}
		}
	}
	return &k, rows.Err()
}
