// Package catalog reads, validates and compiles a catalog document: products,
// decomposition and enrichment rules, scenarios, steps, systems, retry
// policies and the expressions they use. It is pure: no I/O but the document.
package catalog
