package storetest

import (
	"testing"
)

// assetQueryTests: reading assets (AssetsByID in and out of a
// transaction, the Assets listing as an AssetQuery narrows it) and their
// history (a row per change ApplyAssetChanges makes, read by AssetHistory).
var assetQueryTests = map[string]func(t *testing.T, b *bundle){}
