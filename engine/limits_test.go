package engine_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

func TestLimitsWithDefaults(t *testing.T) {
	t.Parallel()
	if got := (engine.Limits{}).WithDefaults(); got != engine.DefaultLimits {
		t.Errorf("Limits{}.WithDefaults() = %+v; want DefaultLimits %+v", got, engine.DefaultLimits)
	}
	// Every field has a default, so that no limit is off by omission.
	d := reflect.ValueOf(engine.DefaultLimits)
	for i := range d.NumField() {
		if d.Field(i).IsZero() {
			t.Errorf("DefaultLimits.%s is zero; every limit needs a default", d.Type().Field(i).Name)
		}
	}
	negative := engine.Limits{CatalogBytes: -1, ExprTimeout: -time.Second, OrderLines: -5}
	if got := negative.WithDefaults(); got != engine.DefaultLimits {
		t.Errorf("%+v.WithDefaults() = %+v; want DefaultLimits (a negative limit takes its default)", negative, got)
	}
	set := engine.Limits{CatalogBytes: 10, ExprNodes: 7, ExprTimeout: time.Second, CalloutResponseBytes: 3}
	want := engine.DefaultLimits
	want.CatalogBytes, want.ExprNodes, want.ExprTimeout, want.CalloutResponseBytes = 10, 7, time.Second, 3
	if got := set.WithDefaults(); got != want {
		t.Errorf("%+v.WithDefaults() = %+v; want the set fields kept and the rest defaulted: %+v", set, got, want)
	}
}
