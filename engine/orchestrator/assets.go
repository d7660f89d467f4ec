package orchestrator

import (
	"context"

	"github.com/batonhq/baton/engine"
)

// assetReader reads assets by id: the store, or a transaction.
type assetReader interface {
	AssetsByID(ctx context.Context, ids []int) (map[int]*engine.Asset, error)
}

// checkAssets checks an order's CHANGE, DISCONNECT, SUSPEND and RESUME
// lines against the assets they name (engine.CheckAssetLines), read
// through r. Errors: BAD_USER_INPUT ("unknown asset" for a missing one or
// another account's, a wrong product), INVALID_STATE (the asset's status
// does not allow the action), each naming its line.
func (e *Engine) checkAssets(ctx context.Context, r assetReader, in *engine.OrderInput) error {
	ids := engine.AssetIDs(in.Lines)
	if len(ids) == 0 {
		return nil
	}
	assets, err := r.AssetsByID(ctx, ids)
	if err != nil {
		return err
	}
	return engine.CheckAssetLines(in.AccountID, in.Lines, assets)
}
