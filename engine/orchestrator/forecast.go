package orchestrator

import (
	"context"
	"sync"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/calendar"
	"github.com/batonhq/baton/engine/plan"
)

// ForecastConfig tunes predictive jeopardy. The zero value takes the
// defaults.
type ForecastConfig struct {
	// MinSamples is how many completions a step definition needs before
	// forecasts use its observed p50/p90 instead of its estimatedDuration
	// (default plan.DefaultMinSamples, 20; negative: never).
	MinSamples int
	// Window is how many of a definition's latest completions its history
	// reads (default 200).
	Window int
	// TTL is how long a definition's history is reused before it is read
	// again (default 1 minute, by the engine's clock).
	TTL time.Duration
}

func (c ForecastConfig) withDefaults() ForecastConfig {
	if c.MinSamples == 0 {
		c.MinSamples = plan.DefaultMinSamples
	}
	if c.Window <= 0 {
		c.Window = 200
	}
	if c.TTL <= 0 {
		c.TTL = time.Minute
	}
	return c
}

// historyCache keeps each definition's recent durations for TTL: a list
// of plans costs one indexed read per definition a minute, not one per
// plan, and step transitions never read it.
type historyCache struct {
	mu      sync.Mutex
	entries map[engine.StepDefKey]*historyEntry
}

type historyEntry struct {
	read    time.Time
	samples []engine.DurationSample
	// stats by the calendar the durations count in (nil: wall time);
	// computed on first use.
	stats map[*calendar.Calendar]*engine.DurationStats
}

// durationStats returns each definition's stats, in the working time of
// cals[k] when it has a calendar; it reads the definitions whose history
// is older than the TTL (or missing) in one round per call.
func (e *Engine) durationStats(ctx context.Context, keys map[engine.StepDefKey]*calendar.Calendar, now time.Time) (map[engine.StepDefKey]*engine.DurationStats, error) {
	cfg := e.forecast
	out := make(map[engine.StepDefKey]*engine.DurationStats, len(keys))
	if cfg.MinSamples < 0 || len(keys) == 0 {
		return out, nil
	}
	h := &e.history
	h.mu.Lock()
	var stale []engine.StepDefKey
	for k := range keys {
		if en := h.entries[k]; en == nil || now.Sub(en.read) >= cfg.TTL || now.Before(en.read) {
			stale = append(stale, k)
		}
	}
	h.mu.Unlock()
	if len(stale) > 0 {
		read, err := e.store.StepDurations(ctx, stale, cfg.Window)
		if err != nil {
			return nil, err
		}
		h.mu.Lock()
		if h.entries == nil {
			h.entries = map[engine.StepDefKey]*historyEntry{}
		}
		for _, k := range stale {
			h.entries[k] = &historyEntry{read: now, samples: read[k], stats: map[*calendar.Calendar]*engine.DurationStats{}}
		}
		h.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, cal := range keys {
		en := h.entries[k]
		if en == nil {
			continue
		}
		st, ok := en.stats[cal]
		if !ok {
			ds := make([]time.Duration, len(en.samples))
			for i, s := range en.samples {
				if cal != nil {
					ds[i] = cal.Between(s.ReadyAt, s.CompletedAt)
				} else {
					ds[i] = s.CompletedAt.Sub(s.ReadyAt)
				}
			}
			st = plan.DurationStatsOf(ds)
			en.stats[cal] = st
		}
		out[k] = st
	}
	return out, nil
}

// Forecasts reads the plans' timelines and forecasts each, with the
// estimates of their catalog versions and the histories of their step
// definitions (README "Plan pictures and forecasts"). Plans that do not
// exist are left out.
func (e *Engine) Forecasts(ctx context.Context, planIDs []int) (map[int]*plan.Forecast, error) {
	tls, err := e.store.PlanTimelines(ctx, planIDs)
	if err != nil {
		return nil, err
	}
	now := e.clock.Now()
	keys := map[engine.StepDefKey]*calendar.Calendar{}
	for _, tl := range tls {
		for _, s := range tl.Steps {
			cat, err := e.CatalogByID(ctx, s.CatalogID)
			if err != nil {
				return nil, err
			}
			var cal *calendar.Calendar
			if def := cat.Step(s.Name); def != nil {
				s.Estimate = def.EstimatedDuration
				if cal = cat.TaskCalendar(def); cal != nil {
					s.Finish = cal.Add
				}
			}
			// A definition's durations count in the calendar of the newest
			// version asking (one calendar per definition and call).
			keys[engine.StepDefKey{Scenario: s.Scenario, Name: s.Name}] = cal
		}
	}
	stats, err := e.durationStats(ctx, keys, now)
	if err != nil {
		return nil, err
	}
	opts := plan.ForecastOptions{MinSamples: e.forecast.MinSamples}
	out := make(map[int]*plan.Forecast, len(tls))
	for _, tl := range tls {
		for _, s := range tl.Steps {
			s.History = stats[engine.StepDefKey{Scenario: s.Scenario, Name: s.Name}]
		}
		out[tl.PlanID] = plan.ForecastPlanWith(tl, now, opts)
	}
	return out, nil
}
