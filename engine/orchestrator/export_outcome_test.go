package orchestrator

// ApplyOutcomes records outcomes as one batch, as the running runner's
// committer does with what its workers report. The committer batches
// whatever arrived together, so tests use this to put chosen outcomes in
// one transaction for certain.
func (e *Engine) ApplyOutcomes(batch []Outcome) {
	e.runner().apply(batch)
}
